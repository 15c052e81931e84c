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
            for publication in configuration.publications {
                let exists = try sql.execute(
                    "SELECT 1 FROM pg_publication WHERE pubname = \(try sql.quoteLiteral(publication))")
                guard exists.rows.isEmpty else { continue }
                let target: String
                switch scope {
                case .allTables: target = "ALL TABLES"
                case .tables(let tables):
                    target = "TABLE " + (try tables.map { try qualifiedIdentifier($0, sql) }).joined(separator: ", ")
                }
                var command = "CREATE PUBLICATION \(try sql.quoteIdentifier(publication)) FOR \(target)"
                if configuration.publishGeneratedColumns {
                    guard sql.serverVersion >= 180000 else {
                        throw PGError(
                            .notSupported,
                            "publishGeneratedColumns needs PostgreSQL 18 or later; the server is \(sql.serverVersion)")
                    }
                    command += " WITH (publish_generated_columns = stored)"
                }
                try sql.execute(command)
                logger.debug("publication created", metadata: ["pgrepl.publication": "\(publication)"])
            }
        }
        guard configuration.createSlot else { return }
        let existing = try sql.execute(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = \(try sql.quoteLiteral(configuration.slot))")
        guard existing.rows.isEmpty else { return }
        let snapshot = configuration.initialSnapshot
        let slot = try cursor.createReplicationSlot(
            configuration.slot, outputPlugin: "pgoutput", temporary: configuration.temporarySlot,
            twoPhase: configuration.twoPhase, snapshot: snapshot ? .export : .nothing,
            failover: configuration.failoverSlot)
        guard snapshot, let name = slot.snapshotName else { return }
        do {
            try copySnapshot(named: name, consistentPoint: slot.consistentPoint, sql: sql, handler: handler)
        } catch let failure as HandlerFailure {
            throw failure
        } catch {
            throw abandonSnapshot(after: error)
        }
    }

    /// The copy failed part way: the snapshot cannot be had again, and the slot's stream alone
    /// would miss the rows not copied. Drops the slot this stream created (a temporary one goes
    /// with its connection) so that the next run starts over, and says so.
    private func abandonSnapshot(after error: any Error) -> ChangeStreamError {
        var message = "the initial snapshot copy failed part way (\(error))"
        if !configuration.temporarySlot {
            do {
                // Even after stop(): a slot left without its snapshot would stream with rows missing.
                let bounded = Interruption(pipe: nil, isRequested: { false }, timeout: 30)
                let sql = try PGConnection(configuration.dsn, logger: logger, interruption: bounded)
                defer { sql.close() }
                try sql.execute("SELECT pg_drop_replication_slot(\(try sql.quoteLiteral(configuration.slot)))")
                message += "; the slot was dropped, so that a new run creates it and copies again"
            } catch let dropError {
                message +=
                    "; dropping the slot failed too (\(dropError)): drop it before a new run, or it would stream"
                    + " without the rows the copy missed"
            }
        }
        logger.warning("initial snapshot abandoned", metadata: ["pgrepl.slot": "\(configuration.slot)"])
        return ChangeStreamError(
            .snapshotIncomplete, message, slot: configuration.slot, underlying: error as? PGError)
    }

    /// Copies the published tables as they were at the slot's consistent point, in batches.
    ///
    /// The exported snapshot lives until the replication connection runs its next command, so it
    /// is imported first; the copy then reads from this transaction while the replication
    /// connection waits, and streaming starts at the consistent point: no gap, no duplicate.
    private func copySnapshot(
        named name: String, consistentPoint: LSN, sql: PGConnection, handler: (PGChangeEvent) throws -> Void
    ) throws {
        // Text output in the forms the value decoder reads, before the transaction starts.
        try sql.execute(
            "SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3; SET TimeZone = 'UTC'")
        try sql.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try sql.execute("SET TRANSACTION SNAPSHOT \(try sql.quoteLiteral(name))")
        let publications = try configuration.publications.map { try sql.quoteLiteral($0) }.joined(separator: ", ")
        let tables = try sql.execute(
            """
            SELECT DISTINCT c.oid, n.nspname, c.relname, c.relreplident
            FROM pg_publication_tables p
            JOIN pg_namespace n ON n.nspname = p.schemaname
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename
            WHERE p.pubname IN (\(publications))
            ORDER BY n.nspname, c.relname
            """)
        for (index, row) in tables.rows.enumerated() {
            guard row.count == 4, let oidText = row[0], let oid = UInt32(oidText), let schema = row[1],
                let table = row[2]
            else { continue }
            let identity = row[3].flatMap { $0.utf8.first }.flatMap(
                PGOutputMessage.Relation.ReplicaIdentity.init(rawValue:))
            let keys = Set(
                try sql.execute(
                    """
                    SELECT a.attname FROM pg_index i
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                    WHERE i.indrelid = \(oid) AND (i.indisreplident OR i.indisprimary)
                    """
                ).rows.compactMap { $0.first ?? nil })
            let qualified = "\(try sql.quoteIdentifier(schema)).\(try sql.quoteIdentifier(table))"
            try sql.execute("DECLARE pgrepl_snapshot NO SCROLL CURSOR FOR SELECT * FROM ONLY \(qualified)")
            var columns: [RelationColumn]?
            while true {
                let batch = try sql.execute(
                    "FETCH FORWARD \(max(1, configuration.snapshotBatchSize)) FROM pgrepl_snapshot")
                let described =
                    columns
                    ?? zip(batch.columns, zip(batch.columnTypes, batch.columnModifiers)).map { name, type in
                        RelationColumn(
                            flags: keys.contains(name) ? 1 : 0, name: name, typeOID: type.0, typeModifier: type.1)
                    }
                columns = described
                let changeTable = PGTable(
                    oid: oid, schema: schema, name: table, replicaIdentity: identity ?? .default, columns: described)
                let rows = try batch.rows.map { values in
                    try PGRow(
                        columns: described,
                        tuple: TupleData(columns: values.map { $0.map { .text(Array($0.utf8)) } ?? .null }))
                }
                let last = batch.rows.count < configuration.snapshotBatchSize
                let event = PGChangeEvent.snapshot(PGSnapshotBatch(table: changeTable, rows: rows, last: last))
                do {
                    try handler(event)
                } catch {
                    throw HandlerFailure(error: error)
                }
                state.withLock { state in
                    state.metrics.changes += rows.count
                }
                instruments.snapshotRows.increment(by: rows.count)
                instruments.changes.increment(by: rows.count)
                if last { break }
            }
            // After the last table every row was delivered: ending the read-only transaction is
            // tidying up, and a stop() from the handler must not make the copy count as failed.
            if index < tables.rows.count - 1 { try sql.execute("CLOSE pgrepl_snapshot") }
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
