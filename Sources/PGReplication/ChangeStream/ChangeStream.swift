import Foundation
import Logging
import PGOutput
import PGLock

/// A stream of committed changes from a logical replication slot, decoded from pgoutput into
/// typed rows, acknowledged only after they were handled, resumed after connection loss.
///
/// ```swift
/// var configuration = ChangeStream.Configuration(dsn: "host=db dbname=app user=repl", slot: "app",
///                                                publications: ["app"])
/// configuration.createSlot = true
/// let stream = ChangeStream(configuration, logger: logger)
/// try stream.run { event in
///     guard case .transaction(let transaction) = event else { return }
///     for change in transaction.changes { try apply(change) }
/// }   // each transaction is acknowledged after the closure returns for it
/// ```
///
/// or, without blocking Swift's cooperative pool:
///
/// ```swift
/// for try await event in stream.events() { … }
/// ```
///
/// **Delivery is at least once.** A transaction's end LSN is reported as flushed only after the
/// handler returned for it (or after ``acknowledge(_:)`` with ``Configuration/Acknowledgement/manual``),
/// so after a crash or reconnect the server resends everything not acknowledged: at most the
/// transaction in flight is seen twice. Status updates and keepalive answers run on their own
/// (the cursor's keeper thread) and never wait for the handler. When nothing is pending, the flush
/// position follows the server's keepalives, so an idle slot does not hold WAL.
///
/// **Resume.** After connection loss, a server restart or a walsender termination, the stream
/// reconnects with bounded exponential backoff and jitter and starts again from the last
/// acknowledged position, with a fresh relation cache. To resume across process restarts, persist
/// ``Transaction/endLSN`` after handling and pass it as ``Configuration/startLSN``. A dropped or
/// invalidated slot ends the stream with ``ChangeStreamError``.
///
/// The class is `Sendable`: ``stop()``, ``acknowledge(_:)`` and ``metrics`` may be used from any
/// thread while ``run(_:)`` runs on one.
public final class ChangeStream: Sendable {
    /// What to stream and how.
    public struct Configuration: Sendable {
        /// Who acknowledges handled events.
        public enum Acknowledgement: Hashable, Sendable {
            /// The stream, once the handler returned (or the async consumer asked for the next event).
            case automatic
            /// The caller, with ``ChangeStream/acknowledge(_:)``.
            case manual
        }

        /// How transactions are delivered.
        public enum Delivery: Hashable, Sendable {
            /// Whole transactions (``ChangeEvent/transaction(_:)``); streamed ones are assembled in memory.
            case assembled
            /// ``ChangeEvent/begin(_:)``, batches of at most `batchSize` changes, then
            /// ``ChangeEvent/commit(_:)`` (or ``ChangeEvent/abort(_:)``): no transaction is held whole.
            case chunked(batchSize: Int)
        }

        /// Which tables a publication the stream creates covers.
        public enum PublicationScope: Hashable, Sendable {
            case allTables
            case tables([String])
        }

        public var dsn: String
        public var slot: String
        public var publications: [String]
        /// Create the slot (pgoutput) when it does not exist.
        public var createSlot = false
        /// Create the slot as TEMPORARY (it goes with the connection; a reconnect then fails with
        /// ``ChangeStreamError/Kind/slotMissing``).
        public var temporarySlot = false
        /// Create the publications that do not exist, with this scope.
        public var createPublication: PublicationScope?
        /// The pgoutput protocol version; nil means the highest the server supports (1–4).
        public var protocolVersion: Int?
        /// Binary column values (PostgreSQL 14+).
        public var binary = false
        /// Let the server stream transactions larger than `logical_decoding_work_mem` before they
        /// commit (protocol 2+).
        public var streaming = false
        public var delivery: Delivery = .assembled
        /// Deliver logical decoding messages (`pg_logical_emit_message`, PostgreSQL 14+).
        public var messages = false
        /// Decode prepared transactions at PREPARE (a two-phase slot, protocol 3+).
        public var twoPhase = false
        /// Seconds between timed status updates.
        public var statusInterval: Double = 10
        /// Where to start on the first connection: a position you persisted; nil means the slot's.
        public var startLSN: LSN?
        /// When the stream creates the slot, first copy the published tables' rows as
        /// ``ChangeEvent/snapshot(_:)`` events from the slot's exported snapshot, then stream from
        /// its consistent point: no gap, no duplicate.
        public var initialSnapshot = false
        /// Rows per snapshot batch.
        public var snapshotBatchSize = 10_000
        public var acknowledgement: Acknowledgement = .automatic
        public var reconnect = ReconnectPolicy()
        /// Events buffered between the I/O thread and an async consumer.
        public var bufferSize = 256
        /// Fail (and reconnect) when nothing arrives from the server for this many seconds.
        public var receiveTimeout: Double?

        public init(dsn: String, slot: String, publications: [String]) {
            self.dsn = dsn
            self.slot = slot
            self.publications = publications
        }
    }

    /// Bounded exponential backoff with full jitter.
    public struct ReconnectPolicy: Hashable, Sendable {
        /// Attempts after a failure before giving up; nil retries forever.
        public var maxAttempts: Int?
        public var initialDelay: Double
        public var maxDelay: Double

        public init(maxAttempts: Int? = nil, initialDelay: Double = 0.2, maxDelay: Double = 10) {
            self.maxAttempts = maxAttempts
            self.initialDelay = initialDelay
            self.maxDelay = maxDelay
        }

        /// No reconnecting: the first failure ends the stream.
        public static let never = ReconnectPolicy(maxAttempts: 0)

        func delay(attempt: Int) -> Double {
            let ceiling = min(maxDelay, initialDelay * pow(2, Double(max(0, attempt - 1))))
            return Double.random(in: (ceiling / 2)...max(ceiling / 2, ceiling))
        }
    }

    /// Progress and lag, read at any time.
    public struct Metrics: Hashable, Sendable {
        /// The highest server WAL end seen.
        public var serverWALEnd: LSN = 0
        /// The last position acknowledged as handled.
        public var acknowledgedLSN: LSN = 0
        /// The flush position reported to the server (acknowledged, or moved on keepalives).
        public var flushedLSN: LSN = 0
        /// `serverWALEnd - flushedLSN` in bytes.
        public var lagBytes: UInt64 { serverWALEnd.distance(from: flushedLSN) }
        public var transactions = 0
        public var changes = 0
        /// Changes per second over the last completed second.
        public var changesPerSecond: Double = 0
        /// The commit time of the last transaction delivered.
        public var lastCommitTime: PostgresTimestamp?
        /// Reconnections so far.
        public var reconnects = 0
        /// Whether a replication connection is streaming now.
        public var connected = false
    }

    struct State {
        var acknowledged: LSN = 0
        var stopRequested = false
        var stopHandle: ReplicationStopHandle?
        var session: StreamSession?
        var metrics = Metrics()
        var windowStart = monotonicNow()
        var windowChanges = 0
        var started = false
    }

    public let configuration: Configuration
    let logger: Logger
    let state = Locked(State())
    let wake = StopFlag()

    public init(_ configuration: Configuration, logger: Logger? = nil) {
        self.configuration = configuration
        self.logger = logger ?? Logger(label: "PGReplication", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    // MARK: - Control from any thread

    /// Stops the stream: ``run(_:)`` returns (or the async sequence ends) after the event in hand.
    public func stop() {
        let handle = state.withLock { state in
            state.stopRequested = true
            return state.stopHandle
        }
        handle?.stop()
        wake.request()
    }

    /// Acknowledges everything up to `lsn` as handled (with ``Configuration/Acknowledgement/manual``;
    /// automatic acknowledgement calls it for you). Positions never move back.
    public func acknowledge(_ lsn: LSN) {
        let session = state.withLock { state -> StreamSession? in
            state.acknowledged = max(state.acknowledged, lsn)
            state.metrics.acknowledgedLSN = state.acknowledged
            return state.session
        }
        session?.recordFlush(lsn)
    }

    /// Progress and lag now.
    public var metrics: Metrics {
        let (metrics, session) = state.withLock { ($0.metrics, $0.session) }
        guard let session else { return metrics }
        var current = metrics
        session.withLock {
            current.serverWALEnd = max(current.serverWALEnd, session.highestWalEnd)
            current.flushedLSN = max(current.flushedLSN, session.flushLSN)
        }
        return current
    }

    var stopRequested: Bool { state.withLock { $0.stopRequested } }

    // MARK: - The blocking front end

    /// Streams until ``stop()`` is called, calling `handler` on this thread for each event.
    ///
    /// With automatic acknowledgement, each transaction is acknowledged after `handler` returns
    /// for it. Errors thrown by `handler` propagate unchanged (its event is not acknowledged).
    ///
    /// - Throws: the handler's errors; ``ChangeStreamError`` for a missing or invalidated slot or
    ///   when reconnecting gave up; `PGError` for errors that reconnecting cannot cure.
    public func run(_ handler: (ChangeEvent) throws -> Void) throws {
        try runLoop(acknowledgeAfterHandler: configuration.acknowledgement == .automatic, handler)
    }

    func runLoop(acknowledgeAfterHandler: Bool, _ handler: (ChangeEvent) throws -> Void) throws {
        let first = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard first else { throw PGError.programming("a ChangeStream runs once; make a new one to stream again") }
        var attempt = 0
        var firstConnection = true
        while !stopRequested {
            do {
                let streamed = try connectAndStream(
                    firstConnection: firstConnection, acknowledgeAfterHandler: acknowledgeAfterHandler, handler)
                firstConnection = false
                if streamed { attempt = 0 }
                if stopRequested { return }
                logger.info("the server ended the replication stream; reconnecting", metadata: ["pgrepl.slot": "\(configuration.slot)"])
            } catch let failure as HandlerFailure {
                throw failure.error
            } catch {
                if let typed = try diagnoseSlot(after: error) { throw typed }
                guard isRetryable(error) else { throw error }
                firstConnection = false
            }
            attempt += 1
            if let maxAttempts = configuration.reconnect.maxAttempts, attempt > maxAttempts {
                throw ChangeStreamError(.reconnectFailed, "gave up reconnecting after \(maxAttempts) attempts", slot: configuration.slot)
            }
            let delay = configuration.reconnect.delay(attempt: attempt)
            logger.info(
                "replication connection lost; reconnecting",
                metadata: ["pgrepl.slot": "\(configuration.slot)", "pgrepl.attempt": "\(attempt)", "pgrepl.delay": "\(delay)"])
            state.withLock { $0.metrics.reconnects += 1 }
            sleepInterruptibly(delay)
        }
    }

    /// An error the handler threw, carried out of the cursor's loop unchanged.
    struct HandlerFailure: Error {
        var error: any Error
    }

    /// One connection's life. Returns whether it got as far as streaming.
    private func connectAndStream(
        firstConnection: Bool, acknowledgeAfterHandler: Bool, _ handler: (ChangeEvent) throws -> Void
    ) throws -> Bool {
        let connection = try LogicalReplicationConnection(configuration.dsn, logger: logger)
        defer { connection.close() }
        let cursor = try connection.cursor()
        if firstConnection {
            try prepare(connection: connection, cursor: cursor, handler: handler)
        }
        let version = configuration.protocolVersion ?? Self.highestProtocolVersion(serverVersion: connection.serverVersion)
        let startLSN = state.withLock { state in
            state.acknowledged > 0 ? state.acknowledged : (configuration.startLSN ?? 0)
        }
        try cursor.startReplication(
            slotName: configuration.slot, startLSN: startLSN, options: try pluginOptions(version: version, cursor: cursor),
            statusInterval: configuration.statusInterval)
        cursor.receiveTimeout = configuration.receiveTimeout
        guard let session = cursor.session else { return false }
        let acknowledged = state.withLock { state in
            state.stopHandle = cursor.makeStopHandle()
            state.session = session
            state.metrics.connected = true
            return state.acknowledged
        }
        // Acknowledged positions reach the server within 10 ms, not on the next timed status
        // update (up to `statusInterval` later): the slot follows the consumer closely.
        session.withLock { session.promptFlushInterval = 0.01 }
        if acknowledged > 0 { session.recordFlush(acknowledged) }
        defer {
            state.withLock { state in
                state.metrics.serverWALEnd = max(state.metrics.serverWALEnd, session.withLock { session.highestWalEnd })
                state.metrics.flushedLSN = max(state.metrics.flushedLSN, session.withLock { session.flushLSN })
                state.stopHandle = nil
                state.session = nil
                state.metrics.connected = false
            }
        }
        if stopRequested { return true }
        logger.debug(
            "change stream started",
            metadata: ["pgrepl.slot": "\(configuration.slot)", "pgrepl.start_lsn": "\(startLSN)", "pgrepl.proto": "\(version)"])

        let delivery: TransactionAssembler.Delivery
        switch configuration.delivery {
        case .assembled: delivery = .assembled
        case .chunked(let size): delivery = .chunked(batchSize: max(1, size))
        }
        var assembler = TransactionAssembler(
            decoder: PGOutputDecoder(
                protocolVersion: version, streaming: configuration.streaming && version >= 2 ? .on : .off),
            delivery: delivery)
        func emit(_ event: ChangeEvent) throws {
            do {
                try handler(event)
            } catch {
                throw HandlerFailure(error: error)
            }
            count(event)
            if acknowledgeAfterHandler, let lsn = event.acknowledgeLSN { acknowledge(lsn) }
        }
        try cursor.consumeStream { message in
            try message.withUnsafePayload { payload in try assembler.feed(payload, emit: emit) }
        }
        return true
    }

    private func count(_ event: ChangeEvent) {
        state.withLock { state in
            var added = 0
            switch event {
            case .transaction(let transaction):
                state.metrics.transactions += 1
                state.metrics.lastCommitTime = transaction.commitTime
                added = transaction.changes.count
            case .commit(let transaction):
                state.metrics.transactions += 1
                state.metrics.lastCommitTime = transaction.commitTime
            case .changes(let batch): added = batch.changes.count
            case .snapshot(let batch): added = batch.rows.count
            default: break
            }
            state.metrics.changes += added
            state.windowChanges += added
            let now = monotonicNow()
            if now - state.windowStart >= 1 {
                state.metrics.changesPerSecond = Double(state.windowChanges) / (now - state.windowStart)
                state.windowStart = now
                state.windowChanges = 0
            }
        }
    }

    /// The pgoutput options for this configuration, as the stream sends them at START: for
    /// consumers of the raw pgoutput bytes (`pgrepl stream --format raw`) that want the same stream.
    public func pluginOptions(version: Int, cursor: ReplicationCursor) throws -> ReplicationOptions {
        guard !configuration.publications.isEmpty else {
            throw PGError.programming("a change stream needs at least one publication")
        }
        let names = try configuration.publications.map { try cursor.quoteIdentifier($0, what: "a publication name") }
        var options: ReplicationOptions = ["proto_version": .int(version), "publication_names": .string(names.joined(separator: ","))]
        if configuration.binary { options.set("binary", true) }
        if configuration.streaming, version >= 2 { options.set("streaming", true) }
        if configuration.messages { options.set("messages", true) }
        if configuration.twoPhase, version >= 3 { options.set("two_phase", true) }
        return options
    }

    /// pgoutput's highest protocol for a server version: 4 from 16, 3 from 15, 2 from 14, else 1.
    public static func highestProtocolVersion(serverVersion: Int) -> Int {
        switch serverVersion {
        case 160000...: return 4
        case 150000..<160000: return 3
        case 140000..<150000: return 2
        default: return 1
        }
    }

    private func isRetryable(_ error: any Error) -> Bool {
        guard let error = error as? PGError else { return false }
        if error.connectionLost { return true }
        guard let state = error.sqlState else { return error.kind == .operational }
        return ["08", "57"].contains(state.errorClass) || state == .objectInUse
    }

    /// After a failure: a missing or invalidated slot becomes its own error.
    private func diagnoseSlot(after error: any Error) throws -> ChangeStreamError? {
        if let typed = error as? ChangeStreamError { return typed }
        guard let pgError = error as? PGError else { return nil }
        let invalidatedText = pgError.message.contains("invalidated") || (pgError.detail ?? "").contains("invalidated")
        if pgError.sqlState == .undefinedObject, pgError.message.contains("replication slot") {
            return ChangeStreamError(.slotMissing, pgError.message, slot: configuration.slot, underlying: pgError)
        }
        if invalidatedText {
            return ChangeStreamError(.slotInvalidated, pgError.message, slot: configuration.slot, underlying: pgError)
        }
        // Ask the server when it can be reached: a slot that vanished or lost its WAL.
        guard let connection = try? PGConnection(configuration.dsn, logger: logger) else { return nil }
        defer { connection.close() }
        guard let literal = try? connection.quoteLiteral(configuration.slot),
            let result = try? connection.execute("SELECT wal_status FROM pg_replication_slots WHERE slot_name = \(literal)")
        else { return nil }
        if result.rows.isEmpty {
            return ChangeStreamError(.slotMissing, "replication slot \"\(configuration.slot)\" does not exist", slot: configuration.slot, underlying: pgError)
        }
        if result.scalar == "lost" {
            return ChangeStreamError(
                .slotInvalidated, "replication slot \"\(configuration.slot)\" was invalidated (wal_status lost)",
                slot: configuration.slot, underlying: pgError)
        }
        return nil
    }

    private func sleepInterruptibly(_ seconds: Double) {
        let fd = wake.wakeFD
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&pfd, fd >= 0 ? 1 : 0, Int32(seconds * 1000))
        if fd >= 0 { drainWakePipe(fd) }
    }
}

/// A change stream ended for a reason reconnecting cannot cure.
public struct ChangeStreamError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The slot does not exist (dropped, or temporary and gone with its connection).
        case slotMissing
        /// The slot was invalidated (`wal_status = lost`, e.g. by `max_slot_wal_keep_size`).
        case slotInvalidated
        /// Reconnecting failed ``ChangeStream/ReconnectPolicy/maxAttempts`` times.
        case reconnectFailed
    }

    public var kind: Kind
    public var message: String
    public var slot: String
    /// The server's error behind it, when there was one.
    public var underlying: PGError?

    init(_ kind: Kind, _ message: String, slot: String, underlying: PGError? = nil) {
        self.kind = kind
        self.message = message
        self.slot = slot
        self.underlying = underlying
    }

    public var description: String { "\(message) (slot \(slot))" }
}
