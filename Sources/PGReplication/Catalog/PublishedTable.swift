import Foundation
import PGOutput

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
package struct PublishedTable: Hashable {
    package var oid: UInt32
    package var schema: String
    package var name: String
    package var replicaIdentity: PGOutputMessage.Relation.ReplicaIdentity
    /// The published columns, in column order, typed as pgoutput types them.
    package var published: [PublishedColumn]
    /// The primary key's columns, or with REPLICA IDENTITY USING INDEX that index's, in index
    /// order; empty when the table has neither.
    package var key: [String]
    /// The published columns' names, in column order.
    package var columns: [String] { published.map(\.name) }
    /// `ONLY schema.table`, or `schema.table` for a partitioned root.
    package var relation: String
    /// The row filters, OR-ed; nil when every row is published.
    package var filter: String?
    /// The server's estimate of the rows (`reltuples`; of the partitions of a partitioned root),
    /// nil when the table was never vacuumed or analyzed.
    package var estimatedRows: Int? = nil
    /// Every column of the table (not only the published ones), in column order.
    package var allColumns: [String] = []
    /// Whether the connection's role may read it (a snapshot or a backfill copies it).
    package var selectable = true
    /// The publication's column names for it (PostgreSQL 15+: every column when it has no column
    /// list); nil before 15.
    package var columnList: [String]? = nil

    package var qualifiedName: String { "\(schema).\(name)" }

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

    package static func list(_ publications: [String], sql: PGConnection) throws -> [PublishedTable] {
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
                         ELSE c.reltuples END)::bigint,
                   to_json(ARRAY(
                     SELECT a.attname FROM pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum))::text,
                   has_table_privilege(c.oid, 'SELECT'), to_json(\(attnames))::text
            FROM pg_publication_tables p
            JOIN pg_namespace n ON n.nspname = p.schemaname
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename
            WHERE p.pubname IN (\(names))
            ORDER BY p.schemaname, p.tablename
            """)
        var order: [UInt32] = []
        var byOID: [UInt32: (row: [String?], filters: [String?])] = [:]
        for row in rows.rows {
            guard row.count == 12, let oid = row[0].flatMap({ UInt32($0) }) else { continue }
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
                filter: filter, estimatedRows: row[8].flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil },
                allColumns: try decoded(row[9], as: [String].self), selectable: row[10] == "t",
                columnList: try row[11].flatMap { $0 == "null" ? nil : $0 }.map { try decoded($0, as: [String].self) })
        }
    }
}

/// A published column as pgoutput describes it: `pg_attribute`'s type and modifier (a domain's
/// own OID, an enum's, an extension type's), and the type's send function, which pgoutput uses
/// for the column in binary mode (nil for a type that has none: pgoutput sends it as text).
package struct PublishedColumn: Hashable, Decodable {
    package var name: String
    package var type: UInt32
    package var modifier: Int32
    package var send: String?
}
