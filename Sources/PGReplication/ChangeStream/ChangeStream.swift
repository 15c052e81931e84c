import Foundation
import Logging
import Metrics
import PGOutput
import PGSupport

/// A stream of committed changes from a logical replication slot, decoded from pgoutput into
/// typed rows, acknowledged only after they were handled, resumed after connection loss.
///
/// ```swift
/// var configuration = ChangeStream.Configuration(dsn: "host=db dbname=app user=repl", slot: "app",
///                                                publications: ["app"])
/// configuration.createSlot = true
/// let stream = ChangeStream(configuration, logger: logger)
/// try stream.consume { event in
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
/// `PGTransaction/endLSN` after handling and pass it as ``Configuration/startLSN``. A dropped or
/// invalidated slot ends the stream with ``ChangeStreamError``.
///
/// The class is `Sendable`: ``stop()``, ``acknowledge(_:)`` and ``metrics`` may be used from any
/// thread while ``consume(_:)`` runs on one.
public final class ChangeStream: Sendable {
    struct State {
        var acknowledged: LSN = 0
        var stopRequested = false
        var stopHandle: ReplicationStopHandle?
        var feedback: ReplicationFeedbackHandle?
        var metrics = Metrics()
        var windowStart = POSIX.monotonicNow()
        var windowChanges = 0
        var started = false
        /// The system identifier of the first server the stream reached.
        var systemID: String?
        /// A failure that ends the stream though nothing failed on its connection (a stall with
        /// `Heartbeat.StallAction.fail`).
        var failure: ChangeStreamError?
        /// The tables described so far, across connections (schema changes).
        var knownTables: [UInt32: PGTable] = [:]
        /// The acknowledgement position of the last event the handler returned for.
        var lastDelivered: LSN = 0
    }

    public let configuration: Configuration
    let logger: Logger
    let state = Locked(State())
    /// Wakes the reconnect loop's sleep when the stream is stopped.
    let wake = WakePipe()
    /// The buffer between the I/O thread and ``events()`` (and ``run()``).
    let channel = EventChannel()
    let instruments: Instruments
    /// The backfills asked for, and the one in progress.
    let backfills = BackfillCoordinator()

    /// - Parameters:
    ///   - configuration: what to stream and how.
    ///   - logger: where the stream logs (nothing by default); it never logs a password or a
    ///     whole connection string.
    ///   - metricsFactory: where the stream's swift-metrics instruments go; by default the
    ///     bootstrapped `MetricsSystem`. The labels: `ChangeStream/Instruments`.
    public init(_ configuration: Configuration, logger: Logger? = nil, metricsFactory: (any MetricsFactory)? = nil) {
        self.configuration = configuration
        self.logger = logger ?? .disabled
        instruments = Instruments(slot: configuration.slot, factory: metricsFactory)
    }

    /// Ends the stream with `error`: its connection is stopped cleanly, and ``consume(_:)`` throws it.
    func fail(_ error: ChangeStreamError) {
        let handle = state.withLock { state in
            if state.failure == nil { state.failure = error }
            return state.stopHandle
        }
        handle?.stop()
        wake.signal()
    }

    // MARK: - Control from any thread

    /// Stops the stream: ``consume(_:)`` returns (or the async sequence ends) after the event in hand.
    public func stop() {
        let handle = state.withLock { state in
            state.stopRequested = true
            return state.stopHandle
        }
        handle?.stop()
        wake.signal()
    }

    /// Acknowledges everything up to `lsn` as handled (with ``Configuration/Acknowledgement/manual``;
    /// automatic acknowledgement calls it for you). Positions never move back.
    public func acknowledge(_ lsn: LSN) { confirm(lsn, measuringLatency: true) }

    /// Acknowledges `lsn`; with `measuringLatency`, records the time since the last delivered
    /// transaction's commit (not for the stream's own heartbeats, which follow no commit).
    func confirm(_ lsn: LSN, measuringLatency: Bool) {
        let (feedback, commitTime) = state.withLock { state -> (ReplicationFeedbackHandle?, PostgresTimestamp?) in
            state.acknowledged = max(state.acknowledged, lsn)
            state.metrics.acknowledgedLSN = state.acknowledged
            return (state.feedback, state.metrics.lastCommitTime)
        }
        feedback?.confirm(flush: lsn)
        if measuringLatency, let commitTime {
            let latency = Date().timeIntervalSince(commitTime.date)
            if latency >= 0, latency.isFinite { instruments.acknowledgeLatency.recordNanoseconds(Int64(latency * 1e9)) }
        }
        if let positions = feedback?.positions {
            instruments.lag.record(positions.highestWalEnd.distance(from: max(positions.flushLSN, lsn)))
        }
    }

    /// Progress and lag now.
    public var metrics: Metrics {
        let (metrics, feedback) = state.withLock { ($0.metrics, $0.feedback) }
        guard let positions = feedback?.positions else { return metrics }
        var current = metrics
        current.serverWALEnd = max(current.serverWALEnd, positions.highestWalEnd)
        current.flushedLSN = max(current.flushedLSN, positions.flushLSN)
        return current
    }

    var stopRequested: Bool { state.withLock { $0.stopRequested } }

    /// What cuts the waits of the stream's own connections short: ``stop()``, and the receive
    /// timeout (a connect, a slot's creation, the initial snapshot's copy).
    var interruption: Interruption {
        Interruption(
            // Strong: a weak capture would give the stream a side table, and every retain and
            // release of it on the read path would take the runtime's slow path. The
            // interruption lives in the stream's own connections, which end before the stream.
            pipe: wake, isRequested: { self.stopRequested },
            timeout: configuration.receiveTimeout?.timeInterval)
    }

    // MARK: - The blocking front end

    /// Streams until ``stop()`` is called, calling `handler` on this thread for each event:
    /// the blocking counterpart of ``events()`` (psycopg2's `consume_stream`).
    ///
    /// With automatic acknowledgement, each transaction is acknowledged after `handler` returns
    /// for it. Errors thrown by `handler` propagate unchanged (its event is not acknowledged).
    ///
    /// - Throws: the handler's errors; ``ChangeStreamError`` for a missing or invalidated slot or
    ///   when reconnecting gave up; `PGError` for errors that reconnecting cannot cure.
    public func consume(_ handler: (PGChangeEvent) throws -> Void) throws {
        try runLoop(acknowledgeAfterHandler: configuration.acknowledgement == .automatic, handler)
    }

    /// The same, with each pgoutput message handed to `rawMessages` as it came, before it is
    /// decoded (`pgrepl stream --format raw`).
    package func consume(
        rawMessages: @escaping RawMessageHandler, _ handler: (PGChangeEvent) throws -> Void
    ) throws {
        try runLoop(
            acknowledgeAfterHandler: configuration.acknowledgement == .automatic, rawMessages: rawMessages, handler)
    }

    /// Renamed ``consume(_:)``: `run()` is ServiceLifecycle's `Service` requirement.
    @available(*, deprecated, renamed: "consume(_:)")
    public func run(_ handler: (PGChangeEvent) throws -> Void) throws {
        try consume(handler)
    }
}
