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
                    try sql.version.require(.publishedGeneratedColumns, "publishGeneratedColumns")
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
        for (index, table) in tables.enumerated() {
            try sql.execute(
                "DECLARE pgrepl_snapshot NO SCROLL CURSOR FOR \(try table.selectStatement(binary: configuration.binary, sql))"
            )
            state.withLock {
                $0.metrics.snapshotTable = table.qualifiedName
                $0.metrics.copy = CopyProgress(
                    table: table.qualifiedName, backfill: false, estimatedRows: table.estimatedRows)
            }
            var columns: [RelationColumn]?
            while true {
                let batch = try sql.execute(
                    "FETCH FORWARD \(max(1, configuration.snapshotBatchSize)) FROM pgrepl_snapshot")
                let (changeTable, rows) = try table.rows(of: batch, binary: configuration.binary, columns: &columns)
                let last = batch.rows.count < configuration.snapshotBatchSize
                let event = PGChangeEvent.snapshot(PGSnapshotBatch(table: changeTable, rows: rows, last: last))
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
                if last { break }
            }
            // After the last table every row was delivered: ending the read-only transaction is
            // tidying up, and a stop() from the handler must not make the copy count as failed.
            if index < tables.count - 1 { try sql.execute("CLOSE pgrepl_snapshot") }
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

/// A table as a publication publishes it, for the initial snapshot and backfills: the rows and
/// columns the stream would send for it.
///
/// - Which tables: `pg_publication_tables`, which covers FOR ALL TABLES, FOR TABLES IN SCHEMA and
///   table lists, and lists a partitioned table under its root's name with
///   `publish_via_partition_root`, or its leaf partitions without it.
/// - Which rows: a root is read with its partitions (`SELECT … FROM root`); other tables without
///   their inheritance children (`FROM ONLY`), which the view lists on their own. Row filters
///   (PostgreSQL 15+) apply; a table in several publications is copied once, with their filters
///   OR-ed, and with none when one publication has none (the server's rule).
/// - Which columns, in column order: the column list (15+) when there is one; else every column
///   but generated ones, which 18 publishes when `publish_generated_columns = stored` (its
///   `pg_publication_tables` already says so) and earlier versions never do.
struct PublishedTable: Hashable {
    var oid: UInt32
    var schema: String
    var name: String
    var replicaIdentity: PGOutputMessage.Relation.ReplicaIdentity
    /// The published columns, in column order, typed as pgoutput types them.
    var published: [PublishedColumn]
    /// The primary key's columns, or with REPLICA IDENTITY USING INDEX that index's, in index
    /// order; empty when the table has neither.
    var key: [String]
    /// The published columns' names, in column order.
    var columns: [String] { published.map(\.name) }
    /// `ONLY schema.table`, or `schema.table` for a partitioned root.
    var relation: String
    /// The row filters, OR-ed; nil when every row is published.
    var filter: String?
    /// The server's estimate of the rows (`reltuples`; of the partitions of a partitioned root),
    /// nil when the table was never vacuumed or analyzed.
    var estimatedRows: Int? = nil

    var qualifiedName: String { "\(schema).\(name)" }

    /// The published columns as a select list (`*` when there are none): each one in text, or,
    /// for a `binary` stream, as its type's send function writes it (hex-encoded), which is what
    /// pgoutput sends in binary mode for a type that has one.
    func selectList(binary: Bool, _ sql: PGConnection) throws -> String {
        guard !published.isEmpty else { return "*" }
        return try published.map { column in
            let name = try sql.quoteIdentifier(column.name)
            guard binary, let send = column.send else { return name }
            // No alias: one named after the column would shadow it in ORDER BY.
            return "encode(\(send)(\(name)), 'hex')"
        }.joined(separator: ", ")
    }

    /// Every published row.
    func selectStatement(binary: Bool, _ sql: PGConnection) throws -> String {
        "SELECT \(try selectList(binary: binary, sql)) FROM \(relation)" + (filter.map { " WHERE \($0)" } ?? "")
    }

    /// Whether pgoutput flags `column` as part of the key: every column with REPLICA IDENTITY
    /// FULL, none with NOTHING, the identity index's columns (the primary key's by default) otherwise.
    func isKey(_ column: String) -> Bool {
        switch replicaIdentity {
        case .full: true
        case .nothing: false
        default: key.contains(column)
        }
    }

    /// Text output in the forms the value decoder reads (and key literals read back as printed),
    /// set before a copy's transaction starts.
    static func prepareSession(_ sql: PGConnection) throws {
        try sql.execute(
            "SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3; SET TimeZone = 'UTC'")
    }

    /// The rows of a result of ``selectStatement(binary:_:)`` (or a chunk of it) as the stream
    /// would send them: each column with the type and modifier pgoutput gives it (a domain's,
    /// not its base type's), in the format the select list read it in. Only the first
    /// `published.count` columns are rows' columns; `columns` describes them once, for every
    /// batch of the table.
    func rows(
        of result: PGConnection.QueryResult, binary: Bool, columns: inout [RelationColumn]?
    ) throws -> (PGTable, [PGRow]) {
        let count = published.isEmpty ? result.columns.count : min(published.count, result.columns.count)
        let described =
            columns
            ?? (0..<count).map { index in
                let known = index < published.count ? published[index] : nil
                let name = known?.name ?? result.columns[index]
                return RelationColumn(
                    flags: isKey(name) ? 1 : 0, name: name, typeOID: known?.type ?? result.columnTypes[index],
                    typeModifier: known?.modifier ?? result.columnModifiers[index])
            }
        columns = described
        let formats = (0..<count).map { binary && $0 < published.count && published[$0].send != nil }
        let table = PGTable(
            oid: oid, schema: schema, name: name, replicaIdentity: replicaIdentity, columns: described)
        let rows = try result.rows.map { values in
            var tuple: [TupleData.Column] = []
            tuple.reserveCapacity(count)
            for index in 0..<count {
                guard let value = values[index] else {
                    tuple.append(.null)
                    continue
                }
                guard formats[index] else {
                    tuple.append(.text(Array(value.utf8)))
                    continue
                }
                guard let bytes = Self.hexBytes(value) else {
                    throw PGError.interface("the server's send output for \(described[index].name) is not hex")
                }
                tuple.append(.binary(bytes))
            }
            return try PGRow(columns: described, tuple: TupleData(columns: tuple))
        }
        return (table, rows)
    }

    /// The bytes of lower- or upper-case hex text, nil when it is not hex.
    static func hexBytes(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { utf8 -> [UInt8]? in
            guard utf8.count % 2 == 0 else { return nil }
            var bytes = [UInt8](repeating: 0, count: utf8.count / 2)
            for index in bytes.indices {
                guard let high = hexDigitValue(utf8[2 * index]), let low = hexDigitValue(utf8[2 * index + 1]) else {
                    return nil
                }
                bytes[index] = high << 4 | low
            }
            return bytes
        }
    }

    static func list(_ publications: [String], sql: PGConnection) throws -> [PublishedTable] {
        let version = sql.version
        let names = try publications.map { try sql.quoteLiteral($0) }.joined(separator: ", ")
        let filter = version.supports(.rowFiltersAndColumnLists) ? "p.rowfilter" : "NULL::text"
        let attnames = version.supports(.rowFiltersAndColumnLists) ? "p.attnames" : "NULL::name[]"
        let rows = try sql.execute(
            """
            SELECT c.oid, p.schemaname, p.tablename, c.relreplident, c.relkind, \(filter),
                   to_json(ARRAY(
                     SELECT json_build_object('name', a.attname, 'type', a.atttypid::int8, 'modifier', a.atttypmod,
                                              'send', NULLIF(t.typsend, 0)::regproc::text)
                     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                       AND (\(attnames) IS NULL OR a.attname = ANY (\(attnames)))
                       AND (a.attgenerated = '' OR \(version.supports(.publishedGeneratedColumns) ? "a.attname = ANY (\(attnames))" : "false"))
                     ORDER BY a.attnum))::text,
                   to_json(ARRAY(
                     SELECT a.attname FROM pg_index i
                     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     WHERE i.indrelid = c.oid
                       AND (CASE c.relreplident WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END)
                     ORDER BY k.position))::text,
                   (CASE WHEN c.relkind = 'p'
                         THEN (SELECT sum(GREATEST(r.reltuples, 0)) FROM pg_partition_tree(c.oid) t
                               JOIN pg_class r ON r.oid = t.relid WHERE r.relkind = 'r')
                         ELSE c.reltuples END)::bigint
            FROM pg_publication_tables p
            JOIN pg_namespace n ON n.nspname = p.schemaname
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename
            WHERE p.pubname IN (\(names))
            ORDER BY p.schemaname, p.tablename
            """)
        var order: [UInt32] = []
        var byOID: [UInt32: (row: [String?], filters: [String?])] = [:]
        for row in rows.rows {
            guard row.count == 9, let oid = row[0].flatMap({ UInt32($0) }) else { continue }
            if byOID[oid] == nil {
                order.append(oid)
                byOID[oid] = (row, [])
            }
            byOID[oid]?.filters.append(row[5])
        }
        func decoded<T: Decodable>(_ json: String?, as type: [T].Type) throws -> [T] {
            try JSONDecoder().decode(type, from: Data((json ?? "[]").utf8))
        }
        return try order.compactMap { oid -> PublishedTable? in
            guard let (row, filters) = byOID[oid], let schema = row[1], let name = row[2] else { return nil }
            let partitioned = row[4] == "p"
            let published = try decoded(row[6], as: [PublishedColumn].self)
            // No filter in one publication: every row (the server ORs them).
            let filter =
                filters.contains(where: { $0 == nil })
                ? nil : filters.compactMap { $0 }.map { "(\($0))" }.joined(separator: " OR ")
            let identity =
                row[3].flatMap { $0.utf8.first }.flatMap(PGOutputMessage.Relation.ReplicaIdentity.init(rawValue:))
                ?? .default
            return PublishedTable(
                oid: oid, schema: schema, name: name, replicaIdentity: identity, published: published,
                key: try decoded(row[7], as: [String].self),
                relation: (partitioned ? "" : "ONLY ")
                    + "\(try sql.quoteIdentifier(schema)).\(try sql.quoteIdentifier(name))",
                filter: filter, estimatedRows: row[8].flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil })
        }
    }
}

/// A published column as pgoutput describes it: `pg_attribute`'s type and modifier (a domain's
/// own OID, an enum's, an extension type's), and the type's send function, which pgoutput uses
/// for the column in binary mode (nil for a type that has none: pgoutput sends it as text).
struct PublishedColumn: Hashable, Decodable {
    var name: String
    var type: UInt32
    var modifier: Int32
    var send: String?
}
