import Foundation
import Logging
import PGOutput
import PGSupport

extension ChangeStream {
    /// An incremental backfill: the published rows of some tables, copied in key order while the
    /// stream goes on, delivered as `PGChangeEvent/snapshot(_:)` events whose
    /// `PGSnapshotBatch/backfill` is set.
    ///
    /// Each chunk of ``chunkSize`` rows is read between two logical decoding messages written by
    /// the stream (`pg_logical_emit_message`, prefix ``prefix``): a low watermark before the read
    /// and a high watermark after it. The chunk is delivered where the stream reaches its high
    /// watermark, without the rows that a change delivered in its window touched (the DBLog
    /// rule): for those, the change the stream delivered is as new as the copy or newer, so no
    /// row ever goes back in time. A commit can reach the stream before other sessions see it
    /// (while it waits for a synchronous standby): a transaction of the table delivered before
    /// the window that the chunk's snapshot does not see counts as if it were in the window, and
    /// the backfill waits until the transactions delivered before the table's backfill began are
    /// visible before it reads the first chunk.
    ///
    /// Rows come from what the publication publishes: its column list and row filter, under the
    /// partition root's name with `publish_via_partition_root`. A table needs a primary key (or a
    /// REPLICA IDENTITY USING INDEX index) among its published columns: chunks are read in its
    /// order, and the stream's changes matched by it. Without one the backfill is refused with
    /// ``ChangeStreamError/Kind/backfillFailed``.
    ///
    /// **Resume.** Each chunk carries a `PGBackfillCheckpoint` (`PGBackfillProgress/checkpoint`):
    /// the tables left and the key of the last row delivered. The consumer persists it after
    /// handling the chunk, next to its own position if it keeps one, and passes it back with
    /// ``init(resuming:chunkSize:)`` after a restart; the backfill then goes on after that key.
    /// Within one process a reconnect never loses a backfill's place. A chunk delivered but not
    /// persisted before a crash is read again: at least once, as for changes.
    public struct Backfill: Hashable, Sendable {
        /// The prefix of the watermark messages.
        public static let prefix = "pgrepl.backfill"

        /// The tables to copy, in order: `schema.table`, or `table` when one published table has
        /// that name.
        public var tables: [String]
        /// Rows per chunk.
        public var chunkSize: Int
        /// Connections that read a chunk together (``ChangeStream/copyWorkersRange``). Above 1,
        /// each chunk's key range is cut where every `chunkSize / workers`-th row's key lies, and
        /// the workers read the parts at once, between the chunk's watermarks; the chunk's rows
        /// stay in key order. A part is read whole, so a chunk may hold more rows than
        /// `chunkSize` when rows are inserted into its range meanwhile. The backfill then uses
        /// `workers` connections besides its own.
        public var workers = 1
        /// Where to resume: the key after which the first table goes on.
        public var after: [String]?
        /// Rows of the first table delivered before (for progress).
        var tableRows = 0

        /// A backfill of `tables`, from their first rows.
        public init(tables: [String], chunkSize: Int = 1000) {
            self.tables = tables
            self.chunkSize = chunkSize
        }

        /// The rest of a backfill, after the chunk that `checkpoint` came with.
        public init(resuming checkpoint: PGBackfillCheckpoint, chunkSize: Int = 1000) {
            tables = checkpoint.tables
            after = checkpoint.after
            tableRows = checkpoint.tableRows
            self.chunkSize = chunkSize
        }

        func validate() throws {
            guard chunkSize >= 1 else {
                throw PGError.programming("ChangeStream.Backfill.chunkSize must be at least 1 (got \(chunkSize))")
            }
            let range = ChangeStream.copyWorkersRange
            guard range.contains(workers) else {
                throw PGError.programming(
                    "ChangeStream.Backfill.workers must be \(range.lowerBound) to \(range.upperBound) (got \(workers))")
            }
        }
    }

    /// Starts a backfill on this stream, running or not yet: it begins once the stream streams,
    /// after the backfills asked for before it.
    ///
    /// - Throws: ``ChangeStreamError`` (``ChangeStreamError/Kind/backfillFailed``) when a table is
    ///   not published, has no key to chunk by, or its publication leaves the key out; `PGError`
    ///   when the server cannot be asked.
    public func backfill(_ request: Backfill) throws {
        try request.validate()
        guard !request.tables.isEmpty else { return }
        let sql = try PGConnection(configuration.dsn, logger: logger, interruption: interruption)
        defer { sql.close() }
        var resolved = request
        resolved.tables = try request.tables.map { try configuration.resolveBackfillTable($0, sql: sql).qualifiedName }
        backfills.enqueue(resolved, context: context)
    }

    /// Runs `hook` on the backfill thread after each chunk is read and before its high watermark
    /// is written (with the table's name and the chunk's sequence number): tests write there to
    /// put a change in a chunk's window.
    package func onBackfillChunkRead(_ hook: @escaping @Sendable (_ table: String, _ sequence: Int) throws -> Void) {
        backfills.afterRead.withLock { $0 = hook }
    }

    /// Turns off the backfill's check of what a chunk's read could see, leaving DBLog's rule
    /// alone (a chunk's window from its low watermark): the test that shows what the check is for
    /// uses it.
    package func backfillIgnoresVisibility() {
        backfills.checksVisibility.withLock { $0 = false }
    }

}

extension ChangeStream.Configuration {
    /// The published table a backfill names, checked for what a backfill needs.
    func resolveBackfillTable(_ name: String, sql: PGConnection) throws -> PublishedTable {
        func refuse(_ why: String) -> ChangeStreamError {
            ChangeStreamError(.backfillFailed, "cannot backfill \(name): \(why)", slot: slot)
        }
        guard sql.version.supports(.logicalDecodingMessages) else {
            throw refuse(
                "backfills need PostgreSQL \(ServerFeature.logicalDecodingMessages.since) or later (logical decoding"
                    + " messages in pgoutput)")
        }
        let published = try PublishedTable.list(publications, sql: sql)
        let matches = published.filter { $0.qualifiedName == name || (!name.contains(".") && $0.name == name) }
        guard matches.count == 1, let table = matches.first else {
            if matches.isEmpty {
                throw refuse(
                    "no publication of the stream (\(publications.joined(separator: ", "))) publishes"
                        + " it; a partitioned table's rows are published under its root only with"
                        + " publish_via_partition_root, else under each partition's name")
            }
            throw refuse("several published tables have that name; name it schema.table")
        }
        guard !table.key.isEmpty else {
            throw refuse(
                "it has no primary key (nor a REPLICA IDENTITY USING INDEX index): chunks are read in key order and"
                    + " the stream's changes are matched to them by key")
        }
        if let missing = table.key.first(where: { !table.columns.contains($0) }) {
            throw refuse(
                "the publication's column list leaves out key column \(missing), so the stream's changes cannot be"
                    + " matched to the copied rows")
        }
        return table
    }
}

/// A stream's backfills: the queue, the thread that reads chunks, and the bookkeeping the I/O
/// thread does for the chunk in flight (the changes delivered in its window, the chunk to
/// deliver at its high watermark).
final class BackfillCoordinator: Sendable {
    /// A chunk read and waiting for its high watermark (its keys wait in the window).
    private struct Chunk {
        var sequence: Int
        var table: PGTable
        var rows: [PGRow]
        /// The last row's key as text, for the checkpoint.
        var lastKey: [String]?
        var last: Bool
    }

    private struct State {
        var running = false
        var threadActive = false
        var queue: [ChangeStream.Backfill] = []
        /// The backfill in progress; its `tables`, `after` and `tableRows` move with each chunk.
        var current: ChangeStream.Backfill?
        /// The table being copied, as the backfill thread resolved it.
        var tracked: PublishedTable?
        /// The DBLog rule: the changes delivered in the chunk's window, and the decision at its
        /// high watermark.
        var window = BackfillWindow()
        /// Chunks of the tracked table delivered.
        var chunks = 0
        var chunk: Chunk?
        var sequence = 0
        /// The transactions delivered before the tracked table's tracking began were seen
        /// visible (`BackfillWindow.committedBeforeTracking`).
        var committedBeforeTrackingVisible = false
        /// The last chunk sequence settled by the I/O thread, and whether it was delivered.
        var settled: (sequence: Int, delivered: Bool)?

        /// Stops noting the stream's changes (the table's last chunk was delivered, or the
        /// backfill ended).
        mutating func untrack() {
            tracked = nil
            window.untrack()
        }
    }

    /// Unique per stream: other streams' watermarks in the same database are not ours.
    let tag = "\(UInt64.random(in: 0...UInt64.max))"
    /// Whether chunks are checked against what their read could see (always, but in the test that
    /// shows what DBLog's rule alone loses).
    let checksVisibility = Locked(true)
    private let state = Locked(State())
    /// A test's hook, run on the backfill thread between a chunk's read and its high watermark:
    /// what it writes then is in the chunk's window and not in its rows.
    let afterRead = Locked<(@Sendable (_ table: String, _ sequence: Int) throws -> Void)?>(nil)

    var isActive: Bool { state.withLock { $0.current != nil || !$0.queue.isEmpty } }

    func enqueue(_ backfill: ChangeStream.Backfill, context: StreamContext) {
        let start = state.withLock { state -> Bool in
            state.queue.append(backfill)
            return claimThread(&state)
        }
        if start { startThread(context) }
    }

    /// The stream runs: backfills asked for start.
    func begin(_ context: StreamContext) {
        let start = state.withLock { state -> Bool in
            state.running = true
            return claimThread(&state)
        }
        if start { startThread(context) }
    }

    /// The stream ended: the thread stops after the statement in hand.
    func end() {
        state.withLock { $0.running = false }
        state.broadcast()
        state.withLock(when: { !$0.threadActive }) { _, _ in }
    }

    private func claimThread(_ state: inout State) -> Bool {
        guard state.running, !state.threadActive, state.current != nil || !state.queue.isEmpty else { return false }
        state.threadActive = true
        return true
    }

    private var isRunning: Bool { state.withLock { $0.running } }

    // MARK: - The I/O thread

    /// Notes the keys an event delivers for the table being copied, and which transactions are
    /// open. Called for every event, before it is delivered.
    func observe(_ event: PGChangeEvent) {
        state.withLock { $0.window.observe(event) }
    }

    /// A watermark of this stream: a low one opens its chunk's window; a high one of the chunk in
    /// flight gives the chunk to deliver. Nil otherwise (a low watermark, another stream's, or one
    /// from before).
    func chunkEvent(at message: PGLogicalDecodingMessage) -> PGSnapshotBatch? {
        let text = String(decoding: message.content, as: UTF8.self)
        let parts = text.split(separator: " ")
        guard parts.count == 3, parts[0] == tag, let sequence = Int(parts[2]) else { return nil }
        if parts[1] == "low" {
            state.withLock { $0.window.lowWatermark(sequence: sequence) }
            return nil
        }
        guard parts[1] == "high" else { return nil }
        let event = state.withLock { state -> PGSnapshotBatch? in
            guard let chunk = state.chunk, chunk.sequence == sequence, var backfill = state.current,
                let settlement = state.window.settle(sequence: sequence)
            else { return nil }
            state.chunk = nil
            guard case .deliver(let keeping) = settlement else {
                state.settled = (sequence, false)
                return nil
            }
            let rows = keeping.map { chunk.rows[$0] }
            // Settled: the thread reads the next chunk while this one is handled (its window
            // opens here, at this high watermark, either way).
            state.settled = (sequence, true)
            if chunk.last { state.untrack() }
            state.chunks += 1
            backfill.tableRows += rows.count
            let chunkNumber = state.chunks
            let tableRows = backfill.tableRows
            if chunk.last {
                backfill.tables.removeFirst()
                backfill.after = nil
                backfill.tableRows = 0
            } else {
                backfill.after = chunk.lastKey ?? backfill.after
            }
            state.current = backfill
            return PGSnapshotBatch(
                table: chunk.table, rows: rows, isLast: chunk.last,
                backfill: PGBackfillProgress(
                    highWatermark: message.lsn, chunk: chunkNumber, tableRows: tableRows,
                    checkpoint: PGBackfillCheckpoint(
                        tables: backfill.tables, after: backfill.after, tableRows: backfill.tableRows)))
        }
        state.broadcast()
        return event
    }

    /// Starts noting the stream's changes to `table`: its first chunk's window opens.
    private func track(_ table: PublishedTable) {
        state.withLock { state in
            state.tracked = table
            state.chunks = 0
            state.window.track(BackfillWindow.Table(oid: table.oid, key: table.key))
            state.committedBeforeTrackingVisible = false
            if state.current?.tables.isEmpty == false { state.current?.tables[0] = table.qualifiedName }
        }
    }

    // MARK: - The backfill thread

    private func startThread(_ context: StreamContext) {
        let thread = Thread { [self] in run(context) }
        thread.name = "pgrepl-backfill"
        thread.start()
    }

    /// The thread's life: chunk after chunk until no backfill is left or the stream ends.
    private func run(_ context: StreamContext) {
        var connection: PGConnection?
        // A chunk's readers when the backfill has several workers.
        var workers: CopyWorkers?
        defer {
            connection?.close()
            workers?.close()
        }
        var attempt = 0
        var failingSince: Date?
        var readAgain = 0
        let slot = context.configuration.slot
        // The backfill's connections wait for the server as long as the stream runs, a minute at most.
        let interruption = Interruption(pipe: nil, isRequested: { [self] in !isRunning }, timeout: 60)
        while let backfill = nextBackfill(context) {
            // Watermarks written before the stream streams could lie before a slot it creates.
            guard context.isConnected() else {
                state.withLock(when: { !$0.running }, deadline: Date().addingTimeInterval(0.05)) { _, _ in }
                continue
            }
            do {
                let sql =
                    try connection
                    ?? PGConnection(context.configuration.dsn, logger: context.logger, interruption: interruption)
                if connection == nil { try PublishedTable.prepareSession(sql) }
                connection = sql
                if workers?.count != backfill.workers {
                    workers?.close()
                    workers =
                        backfill.workers > 1
                        ? CopyWorkers(
                            count: backfill.workers, snapshot: nil, dsn: context.configuration.dsn,
                            logger: context.logger, interruption: interruption,
                            reading: SnapshotReading(
                                batchSize: backfill.chunkSize, keepTuples: context.configuration.keepTuples,
                                decodeValues: context.configuration.decodeValues))
                        : nil
                }
                switch try copyChunk(of: backfill, sql: sql, workers: workers, context: context) {
                case .delivered?:
                    attempt = 0
                    failingSince = nil
                    readAgain = 0
                case .readAgain?:
                    readAgain += 1
                    guard readAgain < 5 else {
                        throw ChangeStreamError(
                            .backfillFailed,
                            "a chunk of \(backfill.tables.first ?? "?") was read 5 times, and each time a transaction"
                                + " in its window could not be matched to it (an unchanged TOASTed key value, or a"
                                + " transaction begun before the table's backfill started)",
                            slot: slot)
                    }
                case nil:
                    break
                }
            } catch {
                connection?.close()
                connection = nil
                workers?.close()
                workers = nil
                state.withLock { state in
                    state.chunk = nil
                    state.window.dropChunk()
                }
                guard isRunning else { continue }
                guard ChangeStream.isRetryable(error) else {
                    abandon(
                        (error as? ChangeStreamError)
                            ?? ChangeStreamError(
                                .backfillFailed, "the backfill of \(backfill.tables.first ?? "?") failed: \(error)",
                                slot: slot, underlying: error as? PGError), context)
                    continue
                }
                attempt += 1
                let since = failingSince ?? Date()
                failingSince = since
                if let reason = Self.givingUp(
                    after: error, attempt: attempt, failingFor: Date().timeIntervalSince(since),
                    policy: context.configuration.reconnect)
                {
                    abandon(
                        ChangeStreamError(
                            .backfillFailed,
                            "the backfill of \(backfill.tables.first ?? "?") failed \(reason): \(error)",
                            slot: slot, underlying: error as? PGError), context)
                    continue
                }
                context.logger.warning(
                    "a backfill query failed; trying again",
                    metadata: ["pgrepl.slot": "\(slot)", "pgrepl.error": "\(error)", "pgrepl.attempt": "\(attempt)"])
                let delay = context.configuration.reconnect.delay(attempt: attempt)
                state.withLock(when: { !$0.running }, deadline: Date().addingTimeInterval(delay.timeInterval)) { _, _ in
                }
            }
        }
    }

    /// Ends the stream with `error`, and with it every backfill, running or queued.
    private func abandon(_ error: ChangeStreamError, _ context: StreamContext) {
        context.fail(error)
        state.withLock { state in
            state.current = nil
            state.queue = []
            state.untrack()
        }
    }

    /// How many times in a row the server may refuse a backfill's query with an error it
    /// answered (a statement timeout, a cancel, out of memory) before the backfill fails:
    /// the same chunk read again mostly fails the same way.
    static let answeredFailureLimit = 5

    /// Why a backfill stops retrying after `error`, or nil to try again: the stream's reconnect
    /// policy is spent, or the server answered the same chunk with an error
    /// ``answeredFailureLimit`` times. A lost connection is retried as long as the policy allows
    /// (the stream reconnects meanwhile).
    static func givingUp(
        after error: any Error, attempt: Int, failingFor: Double, policy: ChangeStream.ReconnectPolicy
    ) -> String? {
        if let reason = policy.exhausted(attempt: attempt, failingFor: .seconds(exactly: failingFor)) {
            return "after \(reason)"
        }
        // A server going down or coming up is waited for like a lost connection.
        let unavailable: Set<SQLState> = [.adminShutdown, .crashShutdown, .cannotConnectNow]
        if let state = (error as? PGError)?.sqlState, state.errorClass != "08", !unavailable.contains(state),
            attempt >= answeredFailureLimit
        {
            let hint =
                state == .queryCanceled
                ? " (a statement_timeout shorter than a chunk's read? a smaller chunkSize, or a longer timeout for"
                    + " the stream's role, lets it through)" : ""
            return "\(attempt) times in a row\(hint)"
        }
        return nil
    }

    /// The backfill in progress, or the next one queued. When none is left or the stream ended,
    /// the thread is released (in the same lock as an ``enqueue(_:stream:)`` would claim it) and
    /// this returns nil.
    private func nextBackfill(_ context: StreamContext) -> ChangeStream.Backfill? {
        let (next, completed) = state.withLock { state -> (ChangeStream.Backfill?, Bool) in
            var completed = false
            if let current = state.current, current.tables.isEmpty {
                state.current = nil
                completed = true
            }
            if state.current == nil, !state.queue.isEmpty { state.current = state.queue.removeFirst() }
            guard state.running, let current = state.current else {
                state.threadActive = false
                return (nil, completed)
            }
            return (current, completed)
        }
        if completed {
            context.setCopyProgress(nil)
            context.logger.info("backfill complete", metadata: ["pgrepl.slot": "\(context.configuration.slot)"])
        }
        if next == nil { state.broadcast() }
        return next
    }

    private enum Outcome { case delivered, readAgain }

    /// Reads one chunk of the backfill's first table between its watermarks and waits until the
    /// stream delivered it; nil when the stream ended meanwhile.
    private func copyChunk(
        of backfill: ChangeStream.Backfill, sql: PGConnection, workers: CopyWorkers?, context: StreamContext
    ) throws -> Outcome? {
        guard let name = backfill.tables.first else { return .delivered }
        let tracked = state.withLock { $0.tracked }
        let table: PublishedTable
        if let tracked, tracked.qualifiedName == name {
            table = tracked
        } else {
            table = try context.configuration.resolveBackfillTable(name, sql: sql)
            // From here the I/O thread notes the keys the stream delivers for the table.
            track(table)
            context.setCopyProgress(
                ChangeStream.CopyProgress(
                    table: table.qualifiedName, isBackfill: true, estimatedRows: table.estimatedRows))
            context.logger.info(
                "backfill of a table starts",
                metadata: ["pgrepl.slot": "\(context.configuration.slot)", "pgrepl.table": "\(name)"])
        }
        let checksVisibility = checksVisibility.withLock { $0 }
        if checksVisibility, state.withLock({ !$0.committedBeforeTrackingVisible }) {
            try waitForCommitsBeforeTracking(of: name, sql: sql, context: context)
            state.withLock { $0.committedBeforeTrackingVisible = true }
        }
        let sequence = state.withLock { state in
            state.sequence += 1
            return state.sequence
        }
        try watermark("low", sequence, sql: sql)
        // One snapshot for the chunk's read (its workers import it), which the rule checks the
        // transactions delivered before the window against.
        try sql.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        let snapshot = try sql.currentSnapshot()
        let exported = try workers.map { _ in try sql.execute("SELECT pg_export_snapshot()").scalar } ?? nil
        let binary = context.configuration.binary && !table.published.isEmpty
        let keyList = try table.key.map { try sql.quoteIdentifier($0) }
        var condition: String?
        if let after = backfill.after, after.count == table.key.count {
            condition = try table.keyCondition(">", after, sql)
        }
        // By position: the key's text after the columns has the key column's name too.
        let order = table.key.compactMap { key in table.columns.firstIndex(of: key).map { "\($0 + 1)" } }
        let changeTable = table.changeTable
        var rows: [PGRow] = []
        let lastKey: [String]?
        let last: Bool
        if let workers {
            // The chunk's key range, cut into parts the workers read at once, each in key order.
            let step = max(1, (backfill.chunkSize + workers.count - 1) / workers.count)
            let (cuts, end) = try table.keyBoundaries(after: condition, step: step, limit: backfill.chunkSize, sql)
            let bounds: [[String]?] = cuts + [end]
            var lower = condition
            var jobs: [SnapshotJob] = []
            for bound in bounds {
                let upper = try bound.map { try table.keyCondition("<=", $0, sql) }
                let range = [lower, upper].compactMap { $0 }
                jobs.append(
                    SnapshotJob(
                        statement: try table.copyStatement(
                            binary: binary, condition: range.isEmpty ? nil : range.joined(separator: " AND "),
                            suffix: " ORDER BY \(order.joined(separator: ", "))", sql),
                        columns: changeTable.columns, binaryFormats: binary ? table.copyFormats() : nil,
                        snapshot: exported))
                lower = try bound.map { try table.keyCondition(">", $0, sql) }
            }
            var parts = Array(repeating: [PGRow](), count: jobs.count)
            try workers.run(jobs) { job, batch in parts[job] += batch }
            rows = parts.flatMap { $0 }
            // Not the last chunk: the next one starts after its end, whatever was read of it.
            lastKey = end
            last = end == nil
        } else {
            // The key's text too, after the row's columns: the checkpoint, which the next chunk's
            // condition reads back as literals.
            let extra = keyList.map { "\($0)::text" }
            let statement = try table.copyStatement(
                binary: binary, extra: extra, condition: condition,
                suffix: " ORDER BY \(order.joined(separator: ", ")) LIMIT \(backfill.chunkSize)", sql)
            var reader = CopyRowReader(
                columns: changeTable.columns, extra: extra.count,
                binaryFormats: binary ? table.copyFormats(extra: extra.count) : nil,
                keepTuples: context.configuration.keepTuples, decodeValues: context.configuration.decodeValues)
            var lastExtra: [String?] = []
            try sql.copyOut(statement) { message in
                guard let (row, extraText) = try reader.row(message) else { return }
                rows.append(row)
                lastExtra = extraText
            }
            lastKey = rows.isEmpty ? nil : lastExtra.map { $0 ?? "" }
            last = rows.count < backfill.chunkSize
        }
        try sql.execute("COMMIT")
        let positions = table.key.compactMap { key in changeTable.columns.firstIndex { $0.name == key } }
        // Keys are compared as values, as the stream's changes carry them (the same type, format
        // and bytes): only the key's columns are decoded when the rows' values are not.
        let keys = try rows.map { row in
            try positions.map { position in
                guard let value = row[position] else {
                    throw PGError(
                        .data,
                        "a key value of a backfill chunk of \(table.qualifiedName) (column"
                            + " \(changeTable.columns[position].name)) could not be decoded")
                }
                return value
            }
        }
        state.withLock { state in
            state.settled = nil
            state.chunk = Chunk(sequence: sequence, table: changeTable, rows: rows, lastKey: lastKey, last: last)
            state.window.chunkRead(sequence: sequence, keys: keys, snapshot: checksVisibility ? snapshot : nil)
        }
        try afterRead.withLock { $0 }?(table.qualifiedName, sequence)
        try watermark("high", sequence, sql: sql)
        // The I/O thread settles the chunk where the stream reaches the high watermark.
        return state.withLock(
            when: { !$0.running || $0.settled?.sequence == sequence }
        ) { state, _ -> Outcome? in
            guard let settled = state.settled, settled.sequence == sequence else { return nil }
            return settled.delivered ? .delivered : .readAgain
        }
    }

    /// Waits until the transactions the stream delivered last before `table`'s tracking began
    /// (`BackfillWindow.committedBeforeTracking`) are visible to new snapshots: what they did is
    /// not in the window's record, so a chunk read while one is not visible could hold an older row
    /// than the one delivered. One waits while its commit waits for a synchronous standby. A wait
    /// longer than 5 seconds is logged, once.
    private func waitForCommitsBeforeTracking(of table: String, sql: PGConnection, context: StreamContext) throws {
        let delivered = state.withLock { $0.window.committedBeforeTracking }
        guard !delivered.isEmpty else { return }
        let started = Date()
        var logged = false
        while isRunning {
            let snapshot = try sql.currentSnapshot()
            let unseen = delivered.filter { !snapshot.sees($0) }
            guard !unseen.isEmpty else { return }
            if !logged, Date().timeIntervalSince(started) > 5 {
                logged = true
                context.logger.warning(
                    "the backfill waits until transactions delivered before it began are visible (do their commits wait for a synchronous standby?)",
                    metadata: [
                        "pgrepl.slot": "\(context.configuration.slot)", "pgrepl.table": "\(table)",
                        "pgrepl.transactions": "\(unseen.prefix(10).map(String.init).joined(separator: ", "))",
                    ])
            }
            state.withLock(when: { !$0.running }, deadline: Date().addingTimeInterval(0.05)) { _, _ in }
        }
    }

    /// Writes a watermark: a non-transactional message, which the stream decodes at its place in
    /// the WAL, flushed at once. PostgreSQL 17+ flushes the message itself; before, the WAL writer
    /// would within `wal_writer_delay` (200 ms by default, a wait per chunk), so the message is
    /// written in a transaction that takes a transaction ID and commits with `synchronous_commit`
    /// `local`: its commit flushes the WAL up to it, and waits for no synchronous standby. The
    /// transaction has no change, so the stream sends nothing of it.
    private func watermark(_ kind: String, _ sequence: Int, sql: PGConnection) throws {
        let content = try sql.quoteLiteral("\(tag) \(kind) \(sequence)")
        let arguments = "false, '\(ChangeStream.Backfill.prefix)', \(content)"
        if sql.version.supports(.flushedMessages) {
            try sql.execute("SELECT pg_logical_emit_message(\(arguments), true)")
        } else {
            try sql.execute(
                "BEGIN; SET LOCAL synchronous_commit = local; SELECT pg_logical_emit_message(\(arguments));"
                    + " SELECT pg_current_xact_id(); COMMIT")
        }
    }
}
