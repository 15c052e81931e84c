import Foundation
import PGOutput
import PGSupport

extension ChangeStream {
    public struct Configuration: Sendable {
        /// Who acknowledges handled events.
        public enum Acknowledgement: Hashable, Sendable {
            /// The stream, once the handler returned (or the async consumer asked for the next event).
            case automatic
            /// The caller, with ``ChangeStream/acknowledge(_:)``.
            case manual
        }

        /// Which tables a publication the stream creates covers.
        public enum PublicationScope: Hashable, Sendable {
            case allTables
            /// These tables; none for `[]` (a publication for logical decoding messages only).
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
        /// Create the slot as a failover slot (PostgreSQL 17+): standbys with
        /// `sync_replication_slots = on` keep a synchronized copy, so that after a promotion the
        /// stream continues on the new primary (list both hosts in the DSN).
        public var failoverSlot = false
        /// Create the publications that do not exist, with this scope.
        public var createPublication: PublicationScope?
        /// Publications the stream creates also publish stored generated columns
        /// (`publish_generated_columns = stored`, PostgreSQL 18+).
        public var publishGeneratedColumns = false
        /// The pgoutput protocol version; nil means the highest the server supports (1–4).
        public var protocolVersion: Int?
        /// Binary column values (PostgreSQL 14+).
        public var binary = false
        /// Whether the server streams transactions larger than `logical_decoding_work_mem` before
        /// they commit, instead of spilling them to its own disk until they do.
        ///
        /// - `.off` (the default): every transaction arrives after its commit. With
        ///   `PGChangeDelivery.assembled` delivery this costs nothing in memory here, since a
        ///   streamed transaction would be assembled anyway.
        /// - `.on` (PostgreSQL 14+, protocol 2+): chunks of large transactions arrive interleaved
        ///   with others; they become whole transactions at Stream Commit (assembled delivery) or
        ///   `PGChangeEvent/begin(_:)`, batches and `PGChangeEvent/abort(_:)` (chunked delivery).
        /// - `.parallel` (PostgreSQL 16+, protocol 4): what PostgreSQL's own subscribers ask for;
        ///   a Stream Abort then also carries the abort's LSN and time
        ///   (`PGTransactionAbort/abortLSN`, `PGTransactionAbort/abortTime`).
        ///
        /// A server or protocol version without the mode is an error at start, not a silent
        /// fallback.
        public var streaming: PGOutputDecoder.StreamingMode = .off
        public var delivery: PGChangeDelivery = .assembled
        /// Assembled delivery: how many bytes of changes (estimated as decoded rows take them) one
        /// transaction keeps in memory, 64 MiB by default, like the server's
        /// `logical_decoding_work_mem`. The rest of a larger transaction goes to an unlinked
        /// temporary file in ``spillDirectory``, and `PGTransaction/changes` reads it back as it is
        /// iterated: memory stays bounded whatever the transaction's size. 0 spills every change.
        ///
        /// With ``ChangeStream/events()``, the budget also covers the events waiting in its
        /// buffer: the transactions buffered and the one being assembled keep at most this much in
        /// memory together (besides the event the consumer holds); a transaction assembled while
        /// the buffer holds much spills sooner.
        public var transactionMemoryLimit = 64 << 20
        /// Where large transactions spill (assembled delivery); nil is the temporary directory.
        public var spillDirectory: String?
        /// Rows keep the tuple they were decoded from (`PGRow/tuple`): the values exactly as the
        /// server sent them, for consumers that pass them on (pgrepl's JSON copies the text
        /// output's bytes). Off by default: it costs a buffer per row.
        public var keepTuples = false
        /// Whether rows decode every value when they are made (the default). Without, a row has
        /// no `PGRow/values`, keeps its tuple, and its subscripts decode a column when it is read:
        /// for consumers that pass the server's bytes on and read few values, if any.
        public var decodeValues = true
        /// Deliver logical decoding messages (`pg_logical_emit_message`, PostgreSQL 14+).
        public var messages = false
        /// Decode prepared transactions at PREPARE (a two-phase slot, protocol 3+).
        public var twoPhase = false
        /// Time between timed status updates (at least a second).
        public var statusInterval: Duration = .seconds(10)
        /// Where to start on the first connection: a position you persisted; nil means the slot's.
        /// See ``slotAhead`` for a slot that confirmed more than this.
        public var startLSN: LSN?
        /// What to do when the slot's confirmed position is past ``startLSN`` at the first start.
        public var slotAhead: SlotAheadPolicy = .warn
        /// When the stream creates the slot, first copy the published tables' rows as
        /// `PGChangeEvent/snapshot(_:)` events from the slot's exported snapshot, then stream from
        /// its consistent point: no gap, no duplicate.
        public var initialSnapshot = false
        /// Rows per snapshot batch.
        public var snapshotBatchSize = 10_000
        /// Connections that copy the initial snapshot together (``ChangeStream/copyWorkersRange``). Above 1, each table's
        /// heap blocks are shared out in ranges that the workers read under the slot's one exported
        /// snapshot: tables still come one after another, each ending with its last batch, but a
        /// table's rows arrive in no defined order (as from any heap scan). The first failure of
        /// any worker fails the whole snapshot, and no slot is left behind.
        public var initialSnapshotWorkers = 1
        /// A backfill to run once the stream streams (``ChangeStream/Backfill``); more can be
        /// started on a running stream with ``ChangeStream/backfill(_:)``.
        public var backfill: Backfill?
        public var acknowledgement: Acknowledgement = .automatic
        public var reconnect = ReconnectPolicy()
        /// Events buffered between the I/O thread and an async consumer, at most; their changes
        /// count against ``transactionMemoryLimit`` too.
        public var bufferSize = 256
        /// Fail (and reconnect) when nothing arrives from the server for this long.
        public var receiveTimeout: Duration?
        /// Periodic heartbeats the stream expects back, to notice a connected stream that no
        /// longer progresses (off by default; see ``ChangeStream/Heartbeat``).
        public var heartbeat: Heartbeat?
        /// Deliver a transaction only once a new snapshot on the server sees it, so that a
        /// consumer that reads the row back never gets the old one (off by default; see
        /// ``ChangeStream/VisibilityGate``).
        public var visibility: VisibilityGate?
        /// What an update's unchanged TOASTed values become: the placeholder (the default), or
        /// the values read back by key (see ``ChangeStream/UnchangedToast``).
        public var unchangedToast: UnchangedToast = .asIs

        public init(dsn: String, slot: String, publications: [String]) {
            self.dsn = dsn
            self.slot = slot
            self.publications = publications
        }
    }

    /// What a stream does when its slot confirmed more than the stream knows was handled.
    ///
    /// At every start the stream reads the slot's `confirmed_flush_lsn` (C) and compares it with
    /// its own position (P): what it acknowledged in this process, else ``Configuration/startLSN``.
    ///
    /// - C = P, or the stream has no position: it starts at the slot's position.
    /// - C < P (the slot is behind; an acknowledgement did not reach the server before a crash,
    ///   or a failover slot on a promoted standby was synchronized before it): it starts at P, and
    ///   the server skips the transactions that end at or before P, which were handled.
    /// - C > P within one process, up to the flush position this stream reported: keepalives moved
    ///   the slot over WAL with nothing for it. Nothing was skipped.
    /// - C > P within one process, past what this stream reported: something else moved the slot
    ///   (another consumer, `pg_replication_slot_advance`). The server would start at C, so what
    ///   lies between was never delivered: always ``ChangeStreamError/Kind/slotMovedElsewhere``.
    /// - C > P for a ``Configuration/startLSN`` of an earlier process: the earlier process may
    ///   have let keepalives move the slot (harmless), or something else moved it. This policy
    ///   decides.
    public enum SlotAheadPolicy: Hashable, Sendable {
        /// Log a warning naming both positions and start at the slot's.
        case warn
        /// Fail with ``ChangeStreamError/Kind/slotMovedElsewhere``.
        case fail
    }

    /// Bounded exponential backoff with full jitter, for as many attempts or as long as it allows.
    ///
    /// Both budgets count consecutive failures: a connection that streamed (delivered an event, or
    /// ran for 10 s) starts them afresh. Each attempt is logged at warning level with its cause.
    public struct ReconnectPolicy: Hashable, Sendable {
        /// Attempts after a failure before giving up; nil: no limit by count.
        public var maxAttempts: Int?
        /// The time since the first of a run of failures after which no new attempt is made; nil:
        /// no limit by time. A failover manager usually promotes a standby within 10–30 s.
        public var maxDuration: Duration?
        public var initialDelay: Duration
        public var maxDelay: Duration

        public init(
            maxAttempts: Int? = nil, maxDuration: Duration? = nil, initialDelay: Duration = .milliseconds(200),
            maxDelay: Duration = .seconds(10)
        ) {
            self.maxAttempts = maxAttempts
            self.maxDuration = maxDuration
            self.initialDelay = initialDelay
            self.maxDelay = maxDelay
        }

        /// Why no attempt number `attempt` (1 for the first after a failure) is made after failing
        /// for `failingFor` (`"5 attempts"`, `"12 attempts in 120 s"`); nil when it is.
        public func exhausted(attempt: Int, failingFor: Duration) -> String? {
            if let maxAttempts, attempt > maxAttempts { return "\(maxAttempts) attempts" }
            if let maxDuration, failingFor > maxDuration {
                return "\(attempt - 1) attempts in \(Int(failingFor.timeInterval.rounded())) s"
            }
            return nil
        }

        /// No reconnecting: the first failure ends the stream.
        public static let never = ReconnectPolicy(maxAttempts: 0)

        /// The wait before attempt number `attempt`: up to `initialDelay` doubled per attempt, at
        /// most `maxDelay`, with full jitter (between half and all of it).
        public func delay(attempt: Int) -> Duration {
            let ceiling = min(maxDelay.timeInterval, initialDelay.timeInterval * pow(2, Double(max(0, attempt - 1))))
            return .seconds(exactly: Double.random(in: (ceiling / 2)...max(ceiling / 2, ceiling)))
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
        public var isConnected = false

        @available(*, deprecated, renamed: "isConnected")
        public var connected: Bool { isConnected }
        /// The table the initial snapshot or a backfill copies now, with its progress; nil when
        /// none is copied.
        public var copy: CopyProgress?
        /// Rows of the initial snapshot delivered so far.
        public var snapshotRows = 0
        /// The table the initial snapshot copies now (`schema.name`), nil when none.
        public var snapshotTable: String?
        /// Rows of backfill chunks delivered so far.
        public var backfillRows = 0
        /// The table a backfill copies now (`schema.name`), nil when none.
        public var backfillTable: String?
    }
}

extension ChangeStream.Configuration {
    /// Checks every value before anything connects.
    ///
    /// - Throws: `PGError` (`.programming`) naming the setting and the value.
    func validate() throws {
        func refuse(_ setting: String, _ value: Any, _ rule: String) -> PGError {
            PGError.programming("ChangeStream.Configuration.\(setting) must be \(rule) (got \(value))")
        }
        guard !slot.isEmpty else { throw refuse("slot", "\"\"", "a slot name") }
        // The server cuts a longer name to 63 bytes without a word: the stream would use another slot.
        guard slot.utf8.count <= 63 else { throw refuse("slot", "\"\(slot)\"", "at most 63 bytes long") }
        if let maxDuration = reconnect.maxDuration, maxDuration < .zero {
            throw refuse("reconnect.maxDuration", maxDuration, "zero or more, or nil")
        }
        guard !publications.isEmpty else { throw refuse("publications", "[]", "at least one publication") }
        if let protocolVersion, !(1...4).contains(protocolVersion) {
            throw refuse("protocolVersion", protocolVersion, "1, 2, 3 or 4")
        }
        if failoverSlot, temporarySlot {
            throw refuse("failoverSlot", true, "false for a temporary slot (temporarySlot is true)")
        }
        if publishGeneratedColumns, createPublication == nil {
            throw refuse("publishGeneratedColumns", true, "used with createPublication")
        }
        if let protocolVersion, let needed = Self.protocolNeeded(for: streaming), protocolVersion < needed {
            throw refuse(
                "streaming", ".\(streaming)",
                "used with protocolVersion \(needed) or later (protocolVersion is \(protocolVersion))")
        }
        if case .chunked(let size) = delivery, size < 1 { throw refuse("delivery", delivery, "batches of at least 1") }
        if unchangedToast == .reselect, case .chunked = delivery, streaming != .off {
            // A streamed transaction's batches come before its commit, when nothing can be read back.
            throw refuse("unchangedToast", ".reselect", "used with assembled delivery or streaming .off")
        }
        guard statusInterval >= .seconds(1) else {
            throw refuse("statusInterval", statusInterval, "at least 1 second")
        }
        guard snapshotBatchSize >= 1 else { throw refuse("snapshotBatchSize", snapshotBatchSize, "at least 1") }
        let workers = ChangeStream.copyWorkersRange
        guard workers.contains(initialSnapshotWorkers) else {
            throw refuse(
                "initialSnapshotWorkers", initialSnapshotWorkers, "\(workers.lowerBound) to \(workers.upperBound)")
        }
        if let backfill, backfill.chunkSize < 1 { throw refuse("backfill.chunkSize", backfill.chunkSize, "at least 1") }
        guard bufferSize >= 1 else { throw refuse("bufferSize", bufferSize, "at least 1") }
        guard transactionMemoryLimit >= 0 else {
            throw refuse("transactionMemoryLimit", transactionMemoryLimit, "0 or more bytes")
        }
        if let receiveTimeout, receiveTimeout <= .zero {
            throw refuse("receiveTimeout", receiveTimeout, "more than zero, or nil")
        }
        if let heartbeat {
            // Each heartbeat is a write on the server: faster than ten a second is a mistake.
            guard heartbeat.interval >= .milliseconds(100) else {
                throw refuse("heartbeat.interval", heartbeat.interval, "at least 0.1 seconds")
            }
            guard heartbeat.deadline > .zero else {
                throw refuse("heartbeat.deadline", heartbeat.deadline, "more than zero")
            }
        }
        if let maxAttempts = reconnect.maxAttempts, maxAttempts < 0 {
            throw refuse("reconnect.maxAttempts", maxAttempts, "0 or more, or nil")
        }
        guard reconnect.initialDelay >= .zero else {
            throw refuse("reconnect.initialDelay", reconnect.initialDelay, "zero or more")
        }
        guard reconnect.maxDelay >= reconnect.initialDelay else {
            throw refuse("reconnect.maxDelay", reconnect.maxDelay, "at least reconnect.initialDelay")
        }
    }

    /// The lowest pgoutput protocol of a streaming mode, nil for `.off`.
    /// The pgoutput protocol a streaming mode needs (``ServerFeature/needed(for:)``).
    package static func protocolNeeded(for streaming: PGOutputDecoder.StreamingMode) -> Int? {
        ServerFeature.needed(for: streaming)?.protocolVersion
    }
}

extension ChangeStream {
    /// How far the copy of one table (of the initial snapshot or a backfill) has come.
    public struct CopyProgress: Hashable, Sendable {
        /// `schema.name`.
        public var table: String
        /// Whether a backfill copies it (else the initial snapshot).
        public var isBackfill: Bool
        /// Rows of the table delivered so far (by this run).
        public var rows: Int
        /// The server's estimate of the table's rows (`pg_class.reltuples`, of its partitions for
        /// a partitioned table), before the publication's row filter; nil when the table was
        /// never vacuumed or analyzed.
        public var estimatedRows: Int?
        /// When the copy of the table started.
        public var started: Date

        public init(table: String, isBackfill: Bool, rows: Int = 0, estimatedRows: Int?, started: Date = Date()) {
            self.table = table
            self.isBackfill = isBackfill
            self.rows = rows
            self.estimatedRows = estimatedRows
            self.started = started
        }

        /// Rows per second since the copy of the table started.
        public func rowsPerSecond(at now: Date = Date()) -> Double {
            let seconds = now.timeIntervalSince(started)
            return seconds > 0 ? Double(rows) / seconds : 0
        }

        /// Seconds left at the rate so far, from the estimate; nil without an estimate or a rate.
        public func secondsLeft(at now: Date = Date()) -> Double? {
            let rate = rowsPerSecond(at: now)
            guard let estimatedRows, rate > 0 else { return nil }
            return max(0, Double(estimatedRows - rows) / rate)
        }
    }
}

extension ChangeStream.CopyProgress {
    @available(*, deprecated, renamed: "isBackfill")
    public var backfill: Bool { isBackfill }

    @available(*, deprecated, renamed: "init(table:isBackfill:rows:estimatedRows:started:)")
    public init(table: String, backfill: Bool, rows: Int = 0, estimatedRows: Int?, started: Date = Date()) {
        self.init(table: table, isBackfill: backfill, rows: rows, estimatedRows: estimatedRows, started: started)
    }
}
