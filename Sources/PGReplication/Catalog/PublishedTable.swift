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

    /// `COPY (SELECT … FROM … WHERE filter) TO STDOUT` of every published row, with `extra`
    /// expressions after the published columns. In text format for a text stream; for a `binary`
    /// stream in binary format, each column as pgoutput sends it: its type's send output, or its
    /// text (`::text`) for a type without one (``copyFormats(extra:)`` says which is which).
    func copyStatement(
        binary: Bool, extra: [String] = [], condition: String? = nil, suffix: String = "", _ sql: PGConnection
    )
        throws -> String
    {
        var list = try published.map { column in
            let name = try sql.quoteIdentifier(column.name)
            return binary && column.send == nil ? "\(name)::text" : name
        }
        list += extra
        let conditions = [filter.map { "(\($0))" }, condition].compactMap { $0 }
        let query =
            "SELECT \(list.joined(separator: ", ")) FROM \(relation)"
            + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")) + suffix
        return "COPY (\(query)) TO STDOUT" + (binary ? " (FORMAT binary)" : "")
    }

    /// Per column of ``copyStatement(binary:extra:condition:suffix:_:)``'s rows in binary format:
    /// true for a type's send output (pgoutput's `b`), false for text (its `t`); `extra` more text
    /// columns at the end.
    func copyFormats(extra: Int = 0) -> [Bool] {
        published.map { $0.send != nil } + Array(repeating: false, count: extra)
    }

    /// The heap blocks a parallel snapshot shares out: the table's, or for a partitioned root its
    /// largest leaf partition's (each range's condition applies to every partition). Read in the
    /// snapshot's transaction.
    func heapBlocks(_ sql: PGConnection) throws -> Int {
        let blocks = try sql.execute(
            """
            SELECT coalesce(
                     (SELECT max(pg_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t WHERE t.isleaf),
                     pg_relation_size(c.oid)) / current_setting('block_size')::bigint
            FROM pg_class c WHERE c.oid = \(oid)
            """
        ).scalar
        return blocks.flatMap { Int($0) } ?? 0
    }

    /// The condition that a row's key compares as `comparison` (`>`, `<=`) with `values`, the
    /// key's text (a checkpoint's): a row comparison for a key of several columns.
    func keyCondition(_ comparison: String, _ values: [String], _ sql: PGConnection) throws -> String {
        let columns = try key.map { try sql.quoteIdentifier($0) }
        let literals = try values.map { try sql.quoteLiteral($0) }
        return columns.count == 1
            ? "\(columns[0]) \(comparison) \(literals[0])"
            : "(\(columns.joined(separator: ", "))) \(comparison) (\(literals.joined(separator: ", ")))"
    }

    /// Where a backfill chunk read by several connections is cut: the key's text (`key::text`, as
    /// a checkpoint holds it) of every `step`-th published row after `condition` in key order
    /// (`cuts`), and of the `limit`-th (`end`), nil when fewer rows are left.
    func keyBoundaries(
        after condition: String?, step: Int, limit: Int, _ sql: PGConnection
    ) throws -> (cuts: [[String]], end: [String]?) {
        let columns = try key.map { try sql.quoteIdentifier($0) }
        let order = columns.joined(separator: ", ")
        let conditions = [filter.map { "(\($0))" }, condition].compactMap { $0 }
        let rows = try sql.execute(
            """
            SELECT n, \(columns.map { "\($0)::text" }.joined(separator: ", ")) FROM (
              SELECT row_number() OVER (ORDER BY \(order)) AS n, \(order) FROM \(relation)
              \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
              ORDER BY \(order) LIMIT \(limit)) rows
            WHERE n % \(step) = 0 OR n = \(limit) ORDER BY n
            """
        ).rows
        var cuts: [[String]] = []
        var end: [String]?
        for row in rows {
            let text = row.dropFirst().map { $0 ?? "" }
            if row.first == "\(limit)" { end = text } else { cuts.append(text) }
        }
        return (cuts, end)
    }

    /// The published columns as the stream's Relation message describes them.
    var relationColumns: [RelationColumn] {
        published.map { column in
            RelationColumn(
                flags: isKey(column.name) ? 1 : 0, name: column.name, typeOID: column.type,
                typeModifier: column.modifier)
        }
    }

    /// The table as the stream's changes name it.
    var changeTable: PGTable {
        PGTable(oid: oid, schema: schema, name: name, replicaIdentity: replicaIdentity, columns: relationColumns)
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
