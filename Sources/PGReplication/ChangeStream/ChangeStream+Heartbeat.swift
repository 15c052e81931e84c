import Foundation
import Logging
import PGOutput
import PGSupport

extension ChangeStream {
    /// A periodic logical decoding message the stream expects back (``Configuration/heartbeat``).
    ///
    /// Every ``interval`` seconds an ordinary connection to the slot's database runs
    /// `pg_logical_emit_message(false, 'pgrepl.heartbeat', …)`: a non-transactional message that
    /// the walsender decodes at once. The stream takes its own heartbeats out of the events (they
    /// never reach the handler) and notes their arrival. When one is not back within
    /// ``deadline`` while the stream is connected, the stream is **stalled**: connected, but the
    /// server sends nothing. It reports that as a `PGChangeEvent/stalled(_:)` event, the
    /// `pgrepl_stalled` gauge and a warning log, or, with ``StallAction/fail``, ends with
    /// ``ChangeStreamError/Kind/stalled``.
    ///
    /// The heartbeats also give an idle database's slot WAL to move over, so its
    /// `confirmed_flush_lsn` follows the server.
    ///
    /// A heartbeat that cannot be written is a warning (the first of a run of failures, then one a
    /// minute), since stall detection is off until one is written again. A standby refuses
    /// `pg_logical_emit_message`: when the stream decodes on a standby, give ``dsn`` the primary's
    /// connection string; the message reaches the standby with the WAL.
    public struct Heartbeat: Hashable, Sendable {
        /// What a stall does.
        public enum StallAction: Hashable, Sendable {
            /// An event, the gauge and a warning; the stream goes on waiting.
            case warn
            /// The stream ends with ``ChangeStreamError/Kind/stalled``.
            case fail
        }

        /// The prefix of the heartbeat messages.
        public static let prefix = "pgrepl.heartbeat"

        /// The time between heartbeats.
        public var interval: Duration
        /// How long a heartbeat may take to come back before the stream counts as stalled.
        public var deadline: Duration
        public var onStall: StallAction
        /// The connection string heartbeats are written with; nil: the stream's
        /// (``Configuration/dsn``). For a stream decoding on a standby, the primary's.
        public var dsn: String?

        /// - Parameters:
        ///   - interval: the time between heartbeats (at least 0.1 seconds).
        ///   - deadline: how long a heartbeat may take to come back; by default three intervals,
        ///     at least 5 seconds.
        ///   - onStall: what a stall does.
        ///   - dsn: the connection string heartbeats are written with; nil: the stream's.
        public init(
            interval: Duration = .seconds(10), deadline: Duration? = nil, onStall: StallAction = .warn,
            dsn: String? = nil
        ) {
            self.interval = interval
            self.deadline = deadline ?? max(interval * 3, .seconds(5))
            self.onStall = onStall
            self.dsn = dsn
        }
    }
}

/// Emits a stream's heartbeats on its own thread and watches for their return.
final class HeartbeatMonitor: Sendable {
    private struct State {
        var running = true
        var sequence: UInt64 = 0
        /// When the stream counts as stalled.
        var rule: StallRule
    }

    let settings: ChangeStream.Heartbeat
    /// Unique per monitor: other streams' heartbeats in the same database are not ours.
    let tag: String
    private let state: Locked<State>
    private let done = DispatchSemaphore(value: 0)

    init(_ settings: ChangeStream.Heartbeat, slot: String) {
        self.settings = settings
        tag = "\(slot) \(UInt32.random(in: 0...UInt32.max))"
        state = Locked(State(rule: StallRule(deadline: settings.deadline.timeInterval)))
    }

    /// Starts the thread; it runs until ``stop()``.
    func start(_ context: StreamContext) {
        let thread = Thread { [self] in
            defer { done.signal() }
            var connection: PGConnection?
            // When the current run of failures began, and when it was last told.
            var failing: (since: Double, told: Double)?
            let metadata: Logger.Metadata = ["pgrepl.slot": "\(context.configuration.slot)"]
            while isRunning {
                do {
                    let current = try connection ?? connect(context)
                    connection = current
                    try emit(on: current)
                    if let since = failing?.since {
                        context.logger.info(
                            "heartbeats are written again after \(Int(POSIX.monotonicNow() - since)) s",
                            metadata: metadata)
                    }
                    failing = nil
                } catch {
                    connection?.close()
                    connection = nil
                    let now = POSIX.monotonicNow()
                    if isRunning, failing.map({ now - $0.told >= 60 }) ?? true {
                        context.logger.warning(
                            "a heartbeat cannot be written, so a stall goes unnoticed until one is: \(error)",
                            metadata: metadata.merging(["pgrepl.error": "\(error)"]) { $1 })
                        failing = (failing?.since ?? now, now)
                    }
                }
                check(context)
                state.withLock(
                    when: { !$0.running }, deadline: Date().addingTimeInterval(settings.interval.timeInterval)
                ) { _, _ in
                }
            }
            connection?.close()
        }
        thread.name = "pgrepl-heartbeat"
        thread.start()
    }

    private var isRunning: Bool { state.withLock { $0.running } }

    /// A new connection for heartbeats; refused when it reaches a standby, which cannot write
    /// them (`pg_logical_emit_message` fails there with an internal error, XX000).
    private func connect(_ context: StreamContext) throws -> PGConnection {
        let connection = try PGConnection(
            settings.dsn ?? context.configuration.dsn, logger: context.logger,
            interruption: Interruption(pipe: nil, isRequested: { [self] in !isRunning }, timeout: 30))
        guard try connection.execute("SELECT pg_is_in_recovery()").scalar == "t" else { return connection }
        connection.close()
        throw PGError(
            .operational,
            "the server is a standby, which cannot write them: write heartbeats on the primary (Heartbeat.dsn,"
                + " pgrepl stream --heartbeat-dsn)")
    }

    func stop() {
        state.withLock { $0.running = false }
        state.broadcast()
        done.wait()
    }

    private func emit(on connection: PGConnection) throws {
        let sequence = state.withLock { state in
            state.sequence += 1
            return state.sequence
        }
        let content = try connection.quoteLiteral("\(tag) \(sequence)")
        let lsn =
            try connection.execute(
                "SELECT pg_logical_emit_message(false, '\(ChangeStream.Heartbeat.prefix)', \(content))"
            ).scalar ?? "?"
        state.withLock { $0.rule.emitted(sequence, at: POSIX.monotonicNow(), date: Date(), lsn: lsn) }
    }

    /// Whether `message` is one of this monitor's heartbeats; notes its arrival when it is.
    func received(_ message: PGLogicalDecodingMessage, context: StreamContext) -> Bool {
        guard message.prefix == ChangeStream.Heartbeat.prefix else { return false }
        let text = String(decoding: message.content, as: UTF8.self)
        guard text.hasPrefix(tag + " "), let sequence = UInt64(text.dropFirst(tag.count + 1)) else {
            // Another stream's heartbeat: not ours to report, never the handler's.
            return true
        }
        let back = state.withLock { $0.rule.returned(sequence, at: POSIX.monotonicNow()) }
        if let roundTrip = back.roundTrip {
            context.instruments.heartbeatRoundTrip.recordNanoseconds(Int64(roundTrip * 1e9))
        }
        if back.recovered {
            context.instruments.stalled.record(0)
            context.logger.info(
                "the change stream progresses again: a heartbeat came back",
                metadata: ["pgrepl.slot": "\(context.configuration.slot)"])
        }
        return true
    }

    /// Forgets what was emitted (a new connection starts; the server sends its messages again
    /// from the restart point, or never, if they lie before it).
    func reset() {
        state.withLock { $0.rule.reset() }
    }

    /// The stall not delivered as an event yet.
    func takePendingStall() -> PGStreamStall? {
        state.withLock { $0.rule.takePending() }
    }

    private func check(_ context: StreamContext) {
        let connected = context.isConnected()
        let stall = state.withLock { $0.rule.check(at: POSIX.monotonicNow(), connected: connected) }
        guard let stall else { return }
        context.instruments.stalled.record(1)
        context.instruments.stalls.increment()
        let metadata: Logger.Metadata = ["pgrepl.slot": "\(context.configuration.slot)"]
        switch settings.onStall {
        case .warn:
            context.logger.warning("the change stream is stalled: \(stall.explanation)", metadata: metadata)
        case .fail:
            context.logger.error("the change stream is stalled: \(stall.explanation)", metadata: metadata)
            context.fail(
                ChangeStreamError(
                    .stalled, "the stream is stalled: \(stall.explanation)", slot: context.configuration.slot))
        }
    }
}
