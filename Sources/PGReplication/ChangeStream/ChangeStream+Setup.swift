import Foundation
import PGOutput

extension ChangeStream {
    /// First connection only: create what the configuration asks for, and copy the initial
    /// snapshot when the slot is new.
    func prepare(
        connection: LogicalReplicationConnection, cursor: ReplicationCursor, handler: (PGChangeEvent) throws -> Void
    ) throws {
        let sql = try PGConnection(configuration.dsn, logger: logger, interruption: interruption)
        defer { sql.close() }
        if let scope = configuration.createPublication {
            let existing = try Publication.read(configuration.publications, on: sql)
            for publication in configuration.publications {
                guard existing[publication] == nil else { continue }
                let target: String
                switch scope {
                case .allTables: target = "ALL TABLES"
                case .tables(let tables):
                    target = "TABLE " + (try tables.map { try qualifiedIdentifier($0, sql) }).joined(separator: ", ")
                }
                var command = "CREATE PUBLICATION \(try sql.quoteIdentifier(publication)) FOR \(target)"
                if configuration.publishGeneratedColumns {
                    try sql.version.require(.publishedGeneratedColumns, "publishGeneratedColumns")
                    command += " WITH (publish_generated_columns = stored)"
                }
                try sql.execute(command)
                logger.debug("publication created", metadata: ["pgrepl.publication": "\(publication)"])
            }
        }
        guard configuration.createSlot else { return }
        guard try SlotStatus.read(configuration.slot, on: sql) == nil else { return }
        // Before a slot is made, or a snapshot copied, for publications that do not exist (an
        // existing slot's connection checks them when it lands).
        try checkPublications(cursor)
        guard configuration.initialSnapshot else {
            try cursor.createReplicationSlot(
                configuration.slot, outputPlugin: "pgoutput", temporary: configuration.temporarySlot,
                twoPhase: configuration.twoPhase, snapshot: .nothing, failover: configuration.failoverSlot)
            return
        }
        try createSlotWithSnapshot(cursor: cursor, sql: sql, handler: handler)
    }

    /// The initial snapshot's completion record is the slot itself.
    ///
    /// The copy reads from a temporary slot's exported snapshot; only once every row was handled
    /// is the configured slot made, as a copy of the temporary one
    /// (`pg_copy_logical_replication_slot`: the same consistent point). An interruption at any
    /// point of the copy (process death, a handler error, a lost connection) leaves no slot
    /// behind, since a temporary slot ends with its connection, so the next run creates it and
    /// copies again: a slot of this name never exists without its snapshot having been handled.
    private func createSlotWithSnapshot(
        cursor: ReplicationCursor, sql: PGConnection, handler: (PGChangeEvent) throws -> Void
    ) throws {
        let permanent = !configuration.temporarySlot
        let copyName = permanent ? Self.snapshotSlotName() : configuration.slot
        let slot = try cursor.createReplicationSlot(
            copyName, outputPlugin: "pgoutput", temporary: true, twoPhase: configuration.twoPhase,
            snapshot: .export)
        guard let name = slot.snapshotName else {
            throw ChangeStreamError(
                .snapshotIncomplete, "the server exported no snapshot for the initial copy", slot: configuration.slot)
        }
        do {
            try copySnapshot(named: name, consistentPoint: slot.consistentPoint, sql: sql, handler: handler)
        } catch let failure as HandlerFailure {
            throw failure
        } catch {
            logger.warning("initial snapshot abandoned", metadata: ["pgrepl.slot": "\(configuration.slot)"])
            throw ChangeStreamError(
                .snapshotIncomplete,
                "the initial snapshot copy failed part way (\(error)); no slot was left behind, so the next run"
                    + " creates it and copies again",
                slot: configuration.slot, underlying: error as? PGError)
        }
        guard permanent else { return }
        // Every row was handled: the copy becomes the configured slot (a two-phase one gets its
        // setting back at its first START, which asks for two_phase).
        try sql.execute(
            "SELECT pg_copy_logical_replication_slot(\(try sql.quoteLiteral(copyName)), "
                + "\(try sql.quoteLiteral(configuration.slot)), false)")
        try cursor.dropReplicationSlot(copyName)
        if configuration.failoverSlot { try cursor.alterReplicationSlot(configuration.slot, failover: true) }
        logger.debug(
            "slot created after the initial snapshot",
            metadata: ["pgrepl.slot": "\(configuration.slot)", "pgrepl.consistent_point": "\(slot.consistentPoint)"])
    }

    /// A name for the temporary slot an initial snapshot is copied from: unique, and a valid
    /// slot name of at most 63 bytes.
    static func snapshotSlotName() -> String {
        "pgrepl_snapshot_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    /// Copies the published tables as they were at the slot's consistent point, in batches.
    ///
    /// The exported snapshot lives until the replication connection runs its next command, so it
    /// is imported first; the copy then reads from this transaction while the replication
    /// connection waits, and streaming starts at the consistent point: no gap, no duplicate.
    private func copySnapshot(
        named name: String, consistentPoint: LSN, sql: PGConnection, handler: (PGChangeEvent) throws -> Void
    ) throws {
        try PublishedTable.prepareSession(sql)
        try sql.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try sql.execute("SET TRANSACTION SNAPSHOT \(try sql.quoteLiteral(name))")
        let tables = try PublishedTable.list(configuration.publications, sql: sql)
        let batchSize = max(1, configuration.snapshotBatchSize)
        for table in tables {
            state.withLock {
                $0.metrics.snapshotTable = table.qualifiedName
                $0.metrics.copy = CopyProgress(
                    table: table.qualifiedName, isBackfill: false, estimatedRows: table.estimatedRows)
            }
            // COPY, not a cursor: the server sends rows while the handler writes the ones before,
            // and each row's tuple is built straight from the server's bytes.
            let binary = configuration.binary && !table.published.isEmpty
            let changeTable = table.changeTable
            var reader = CopyRowReader(
                columns: changeTable.columns, binaryFormats: binary ? table.copyFormats() : nil,
                keepTuples: configuration.keepTuples, decodeValues: configuration.decodeValues)
            var rows: [PGRow] = []
            rows.reserveCapacity(min(batchSize, 10_000))
            func deliver(last: Bool) throws {
                let event = PGChangeEvent.snapshot(PGSnapshotBatch(table: changeTable, rows: rows, isLast: last))
                do {
                    try handler(event)
                } catch {
                    throw HandlerFailure(error: error)
                }
                state.withLock { state in
                    state.metrics.changes += rows.count
                    state.metrics.snapshotRows += rows.count
                    state.metrics.copy?.rows += rows.count
                }
                instruments.snapshotRows.increment(by: rows.count)
                instruments.changes.increment(by: rows.count)
                rows.removeAll(keepingCapacity: true)
            }
            try sql.copyOut(try table.copyStatement(binary: binary, sql)) { message in
                guard let row = try reader.row(message) else { return }
                rows.append(row.row)
                if rows.count == batchSize { try deliver(last: false) }
            }
            try deliver(last: true)
        }
        state.withLock {
            $0.metrics.snapshotTable = nil
            $0.metrics.copy = nil
        }
        _ = try? sql.execute("COMMIT")
        logger.debug(
            "initial snapshot copied",
            metadata: ["pgrepl.slot": "\(configuration.slot)", "pgrepl.consistent_point": "\(consistentPoint)"])
    }

    /// `schema.table` or `table`, each part quoted.
    private func qualifiedIdentifier(_ name: String, _ sql: PGConnection) throws -> String {
        let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
        return try parts.map { try sql.quoteIdentifier($0) }.joined(separator: ".")
    }
}
