import Foundation
import Logging
import PGOutput
import PGSupport

extension ChangeStream {
    /// How many connections may copy together: ``Configuration/initialSnapshotWorkers`` and
    /// ``Backfill/workers``.
    public static let copyWorkersRange = 1...64

    /// Copies the published tables as they were at the slot's consistent point, in batches, one
    /// table after another.
    ///
    /// The exported snapshot lives until the replication connection runs its next command, so it
    /// is imported first; the copy then reads from this transaction (and with
    /// ``Configuration/initialSnapshotWorkers`` above 1, from the workers' transactions, which
    /// import the same snapshot) while the replication connection waits, and streaming starts at
    /// the consistent point: no gap, no duplicate.
    func copySnapshot(
        named name: String, consistentPoint: LSN, sql: PGConnection, handler: (PGChangeEvent) throws -> Void
    ) throws {
        try Self.importSnapshot(name, on: sql)
        let tables = try PublishedTable.list(configuration.publications, sql: sql)
        let point = PGSnapshotPoint(lsn: consistentPoint, xmax: try sql.currentSnapshot().xmax)
        // Batches wait here until one with rows follows them (or the snapshot ends), so that a
        // table's last batch says it is last, and the snapshot's last batch with rows says it
        // ends the snapshot: at most one batch with rows waits, with the empty last batches of
        // empty tables after it.
        // The progress shown (`metrics.copy`) is of the table whose rows are handed out.
        var pending: [(batch: PGSnapshotBatch, table: PublishedTable)] = []
        func deliver(_ batch: PGSnapshotBatch, of table: PublishedTable) throws {
            state.withLock { state in
                if state.metrics.snapshotTable != table.qualifiedName {
                    state.metrics.snapshotTable = table.qualifiedName
                    state.metrics.copy = CopyProgress(
                        table: table.qualifiedName, isBackfill: false, estimatedRows: table.estimatedRows)
                }
                state.metrics.copy?.rows += batch.rows.count
            }
            do {
                try handler(.snapshot(batch))
            } catch {
                throw HandlerFailure(error: error)
            }
            state.withLock { state in
                state.metrics.changes += batch.rows.count
                state.metrics.snapshotRows += batch.rows.count
            }
            instruments.snapshotRows.increment(by: batch.rows.count)
            instruments.changes.increment(by: batch.rows.count)
        }
        func enqueue(_ batch: PGSnapshotBatch, of table: PublishedTable) throws {
            if !batch.rows.isEmpty {
                for waiting in pending { try deliver(waiting.batch, of: waiting.table) }
                pending.removeAll()
            }
            pending.append((batch, table))
        }
        let reading = SnapshotReading(
            batchSize: max(1, configuration.snapshotBatchSize), keepTuples: configuration.keepTuples,
            decodeValues: configuration.decodeValues)
        let workerCount = configuration.initialSnapshotWorkers
        let workers =
            workerCount > 1
            ? CopyWorkers(
                count: workerCount, snapshot: name, dsn: configuration.dsn, logger: logger,
                interruption: interruption, reading: reading)
            : nil
        defer { workers?.close() }
        for (order, table) in tables.enumerated() {
            let binary = configuration.binary && !table.published.isEmpty
            let changeTable = table.changeTable
            var hasRows = false
            func take(_ rows: [PGRow]) throws {
                guard !rows.isEmpty else { return }
                // Debezium's sense of the first row: the first table's, none when it is empty.
                try enqueue(
                    PGSnapshotBatch(
                        table: changeTable, rows: rows, isLast: false, point: point,
                        startsSnapshot: order == 0 && !hasRows),
                    of: table)
                hasRows = true
            }
            // COPY, not a cursor: the server sends rows while the handler writes the ones before,
            // and each row's tuple is built straight from the server's bytes.
            func job(_ condition: String?) throws -> SnapshotJob {
                SnapshotJob(
                    statement: try table.copyStatement(binary: binary, condition: condition, sql),
                    columns: changeTable.columns, binaryFormats: binary ? table.copyFormats() : nil)
            }
            if let workers {
                // Several ranges per worker, taken in turn, so that a worker that is done early
                // takes the next.
                let ranges = BlockRanges(blocks: try table.heapBlocks(sql), parts: workerCount * 4).ranges
                try workers.run(try ranges.map { try job($0.condition) }) { _, rows in try take(rows) }
            } else {
                try reading.read(try job(nil), on: sql, take)
            }
            // The table's batch that waits last is its last one; an empty table has one, empty.
            if hasRows, let last = pending.indices.last {
                pending[last].batch.isLast = true
            } else {
                try enqueue(PGSnapshotBatch(table: changeTable, rows: [], isLast: true, point: point), of: table)
            }
        }
        if let index = pending.firstIndex(where: { !$0.batch.rows.isEmpty }) {
            pending[index].batch.endsSnapshot = true
        }
        for waiting in pending { try deliver(waiting.batch, of: waiting.table) }
        state.withLock {
            $0.metrics.snapshotTable = nil
            $0.metrics.copy = nil
        }
        _ = try? sql.execute("COMMIT")
        logger.debug(
            "initial snapshot copied",
            metadata: ["pgrepl.slot": "\(configuration.slot)", "pgrepl.consistent_point": "\(consistentPoint)"])
    }

    /// Starts a read-only transaction on `sql` that sees what the exported snapshot `name` sees,
    /// with text output in the forms the value decoder reads.
    static func importSnapshot(_ name: String, on sql: PGConnection) throws {
        try PublishedTable.prepareSession(sql)
        try beginTransaction(seeing: name, on: sql)
    }

    /// Starts a read-only transaction on `sql` that sees what the exported snapshot `name` sees.
    static func beginTransaction(seeing name: String, on sql: PGConnection) throws {
        try sql.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try sql.execute("SET TRANSACTION SNAPSHOT \(try sql.quoteLiteral(name))")
    }
}

/// One `COPY` of an initial snapshot (a table, or a range of its blocks) and how to read its rows.
struct SnapshotJob: Sendable {
    var statement: String
    var columns: [RelationColumn]
    /// Per column, whether it is a type's send output; nil for a text-format COPY.
    var binaryFormats: [Bool]?
    /// An exported snapshot the job's read imports, in a transaction of its own (a backfill
    /// chunk's); nil to read in the worker's transaction.
    var snapshot: String? = nil
}

/// How a snapshot's rows are read into batches.
struct SnapshotReading: Sendable {
    var batchSize: Int
    var keepTuples: Bool
    var decodeValues: Bool

    /// Runs the job's COPY on `sql` and passes its rows to `emit` in batches of ``batchSize``
    /// (the last one smaller, none when there are no rows).
    func read(_ job: SnapshotJob, on sql: PGConnection, _ emit: ([PGRow]) throws -> Void) throws {
        var reader = CopyRowReader(
            columns: job.columns, binaryFormats: job.binaryFormats, keepTuples: keepTuples,
            decodeValues: decodeValues)
        var rows: [PGRow] = []
        rows.reserveCapacity(min(batchSize, 10_000))
        try sql.copyOut(job.statement) { message in
            guard let row = try reader.row(message) else { return }
            rows.append(row.row)
            if rows.count == batchSize {
                try emit(rows)
                rows.removeAll(keepingCapacity: true)
            }
        }
        if !rows.isEmpty { try emit(rows) }
    }
}

/// Connections that run `COPY` jobs together: the workers of a parallel initial snapshot (each in
/// a transaction that imported the slot's exported snapshot) or of a backfill chunk's key ranges.
///
/// Each worker thread opens its own connection and runs the jobs it takes, one set of jobs at a
/// time (a table's block ranges, a chunk's key ranges); the calling thread gets their batches, in
/// the order they are read, each with its job's index. At most `count` batches wait, besides one
/// being read per worker, so memory stays bounded. The first failure of any worker (its
/// connection, its COPY, a stop) ends every worker and is thrown to the caller; ``close()`` ends
/// them too and waits for their connections to close.
final class CopyWorkers: Sendable {
    private struct State {
        /// The current set's jobs not taken yet, with their indexes, the next last.
        var jobs: [(index: Int, job: SnapshotJob)] = []
        /// Jobs taken and not finished.
        var running = 0
        var batches: [(job: Int, rows: [PGRow])] = []
        var failure: (any Error)?
        var closed = false
        var exited = 0
    }

    private let state = Locked(State())
    let count: Int

    /// - Parameter snapshot: the exported snapshot each worker's transaction imports; nil for
    ///   none (each job reads what is committed when it runs).
    init(
        count: Int, snapshot: String?, dsn: String, logger: Logger, interruption: Interruption,
        reading: SnapshotReading
    ) {
        self.count = count
        let state = self.state
        // A worker's waits end at a stop of the stream or once the workers are closed.
        let workerInterruption = Interruption(
            pipe: interruption.pipe,
            isRequested: { interruption.isRequested() || state.withLock { $0.closed } },
            timeout: interruption.timeout)
        for index in 0..<count {
            let thread = Thread { [self] in
                work(snapshot: snapshot, dsn: dsn, logger: logger, interruption: workerInterruption, reading: reading)
            }
            thread.name = "pgrepl-copy-\(index)"
            thread.start()
        }
    }

    private func work(
        snapshot: String?, dsn: String, logger: Logger, interruption: Interruption, reading: SnapshotReading
    ) {
        defer {
            state.withLock { $0.exited += 1 }
            state.broadcast()
        }
        do {
            let sql = try PGConnection(dsn, logger: logger, interruption: interruption)
            defer { sql.close() }
            if let snapshot {
                try ChangeStream.importSnapshot(snapshot, on: sql)
            } else {
                try PublishedTable.prepareSession(sql)
            }
            // A job's own transaction ends when the next job starts (or the connection closes).
            var inTransaction = false
            while let (index, job) = take() {
                if let snapshot = job.snapshot {
                    if inTransaction { try sql.execute("COMMIT") }
                    try ChangeStream.beginTransaction(seeing: snapshot, on: sql)
                    inTransaction = true
                }
                try reading.read(job, on: sql) { rows in try put(rows, job: index) }
                state.withLock { $0.running -= 1 }
                state.broadcast()
            }
        } catch {
            state.withLock { state in
                if state.failure == nil, !state.closed { state.failure = error }
                state.closed = true
            }
            state.broadcast()
        }
    }

    /// The next job and its index, once there is one; nil once the workers are closed.
    private func take() -> (Int, SnapshotJob)? {
        state.withLock(when: { !$0.jobs.isEmpty || $0.closed }) { state, _ in
            guard !state.closed, let job = state.jobs.popLast() else { return nil }
            state.running += 1
            return job
        }
    }

    /// Queues a batch for the calling thread, once there is room.
    private func put(_ rows: [PGRow], job: Int) throws {
        try state.withLock(when: { $0.batches.count < count || $0.closed }) { state, _ in
            if state.closed { throw Interruption.stopped("copying") }
            state.batches.append((job, rows))
        }
        state.broadcast()
    }

    /// Runs a set of jobs and passes every batch, with its job's index, to `emit` on this
    /// thread; returns once every job is done, and throws the first failure of a worker.
    func run(_ jobs: [SnapshotJob], _ emit: (Int, [PGRow]) throws -> Void) throws {
        state.withLock { $0.jobs = Array(jobs.enumerated().map { ($0.offset, $0.element) }.reversed()) }
        state.broadcast()
        while true {
            let next = try state.withLock(when: { state in
                !state.batches.isEmpty || state.failure != nil || state.closed
                    || (state.jobs.isEmpty && state.running == 0)
            }) { state, _ throws -> (job: Int, rows: [PGRow])? in
                if let failure = state.failure { throw failure }
                if !state.batches.isEmpty { return state.batches.removeFirst() }
                if state.closed { throw Interruption.stopped("copying") }
                return nil
            }
            guard let next else { return }
            state.broadcast()
            try emit(next.job, next.rows)
        }
    }

    /// Ends every worker and waits (up to 30 s) until their connections are closed.
    func close() {
        state.withLock { $0.closed = true }
        state.broadcast()
        let count = self.count
        state.withLock(when: { $0.exited == count }, deadline: Date().addingTimeInterval(30)) { _, _ in }
    }
}
