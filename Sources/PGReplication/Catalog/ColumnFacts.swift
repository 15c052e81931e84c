import PGOutput

/// What the catalog knows of a table's columns and pgoutput does not send: each type's name as
/// `format_type` prints it (and a domain's base type), and, when asked for, each column's
/// position, NOT NULL, default expression and primary-key membership.
///
/// The columns are those of a stream's description of the table (``PGTable/columns``), in its
/// order; a column the catalog no longer has (dropped since) gets the empty facts.
package struct ColumnFacts: Hashable, Sendable {
    /// `format_type(type, modifier)` per column; nil for a type the catalog does not know.
    package var typeNames: [String?]
    /// Per column: the base type's `format_type` when the column's type is a domain, else nil.
    package var domainBaseTypeNames: [String?]
    /// Per column: the base type and its modifier when the column's type is a domain, else nil.
    package var domainBaseTypes: [DomainBase?] = []
    /// The attributes, when they were read (`attributes: true`); else empty.
    package var positions: [Int] = []
    package var notNull: [Bool] = []
    /// The default expression, or nil (no default, or a generated column).
    package var defaults: [String?] = []
    package var primaryKey: [Bool] = []
    /// Whether the table has a primary key (read with the attributes).
    package var hasPrimaryKey = false

    /// Reads the facts of `table`'s columns; `attributes` adds positions, NOT NULL, defaults and
    /// the primary key.
    package static func read(
        for table: PGTable, attributes: Bool, on connection: some CatalogQuerying
    ) throws -> ColumnFacts {
        let oids = table.columns.map { String($0.typeOID) }.joined(separator: ",")
        let modifiers = table.columns.map { String($0.typeModifier) }.joined(separator: ",")
        let types = try connection.execute(
            """
            SELECT format_type(u.type, u.modifier), t.typtype = 'd', format_type(t.typbasetype, t.typtypmod),
                   t.typbasetype, t.typtypmod
            FROM unnest(ARRAY[\(oids)]::oid[], ARRAY[\(modifiers)]::int4[]) WITH ORDINALITY AS u(type, modifier, n)
            LEFT JOIN pg_type t ON t.oid = u.type
            ORDER BY u.n
            """
        ).rows
        var facts = ColumnFacts(typeNames: [], domainBaseTypeNames: [])
        for index in table.columns.indices {
            let row = index < types.count ? types[index] : []
            facts.typeNames.append(row.first ?? nil)
            let isDomain = row.count > 4 && row[1] == "t"
            facts.domainBaseTypeNames.append(isDomain ? row[2] : nil)
            facts.domainBaseTypes.append(
                isDomain ? UInt32(row[3] ?? "").map { DomainBase(oid: $0, modifier: Int32(row[4] ?? "") ?? -1) } : nil)
        }
        guard attributes else { return facts }
        let rows = try connection.execute(
            """
            SELECT a.attname, a.attnum, a.attnotnull,
                   CASE WHEN a.atthasdef AND a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
                   COALESCE(a.attnum = ANY (i.indkey), false), i.indrelid IS NOT NULL
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = \(table.oid) AND a.attnum > 0 AND NOT a.attisdropped
            """
        ).rows
        var byName: [String: [String?]] = [:]
        for row in rows { if let name = row.first ?? nil { byName[name] = row } }
        for column in table.columns {
            let row = byName[column.name] ?? []
            facts.positions.append(row.count > 1 ? Int(row[1] ?? "") ?? 0 : 0)
            facts.notNull.append(row.count > 2 && row[2] == "t")
            facts.defaults.append(row.count > 3 ? row[3] : nil)
            facts.primaryKey.append(row.count > 4 && row[4] == "t")
        }
        facts.hasPrimaryKey = rows.contains { $0.count > 5 && $0[5] == "t" }
        return facts
    }
}

extension ColumnFacts {
    /// A domain's base type and its modifier.
    package struct DomainBase: Hashable, Sendable {
        package var oid: UInt32
        package var modifier: Int32
    }
}
