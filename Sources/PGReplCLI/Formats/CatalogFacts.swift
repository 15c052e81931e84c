import Foundation
import PGOutput
import PGReplication

/// What the JSON encoders need from the catalog and pgoutput does not send, per table (type names
/// as `format_type` prints them; for `include-pk`, `include-not-null`, `include-default` and
/// `include-column-positions`, each column's attributes), and the server's TimeZone and database.
///
/// The encoders never query: ``StreamWriter`` calls ``prepare(_:)`` for each change before it
/// hands the change to the encoder, which then only looks its facts up. Facts are read (through
/// the catalog room's ``ColumnFacts``) once per table, and again when the table's description in
/// the stream changes (a Relation message with other columns, a schema change).
final class CatalogFacts {
    final class Table {
        let oid: UInt32
        /// The description the facts were read for.
        var columns: [RelationColumn]
        /// Each column's type name, escaped for JSON as wal2json writes it.
        var typeNames: [[UInt8]]
        var positions: [Int]
        var notNull: [Bool]
        /// The default expression, or nil (no default, or a generated column).
        var defaults: [String?]
        var primaryKey: [Bool]
        var hasPrimaryKey: Bool
        /// Each column's type name as `format_type` prints it (nil when the catalog lacks it).
        var plainTypeNames: [String?]
        /// Per column: a domain's base type, else nil.
        var domainBases: [ColumnFacts.DomainBase?]
        /// What the wal2json encoder writes for the table and each column, made once per
        /// description: `,"schema":…,"table":…`; `{"name":…,"type":…,"typeoid":…,"value":` and
        /// what follows the value in `columns` (optional, position, default, `}`) and in
        /// `identity`; the whole item in `pk` (see `prepareEncodings`).
        @exclusivity(unchecked) var tableFields: [UInt8] = []
        /// Per column, one after the other in ``encoded``: the item's start up to its value, what
        /// follows the value in `columns`, and the whole `pk` item; ``offsets`` has their ends
        /// (4 per column: start, value, end of the `columns` item, end of the `pk` item).
        @exclusivity(unchecked) var encoded: [UInt8] = []
        @exclusivity(unchecked) var offsets: [Int] = []
        @exclusivity(unchecked) var typeOIDs: [UInt32] = []
        /// Per column: 1 a replica-identity key column, 2 a primary-key column.
        @exclusivity(unchecked) var flags: [UInt8] = []

        init(oid: UInt32, columns: [RelationColumn], facts: ColumnFacts, domainBaseTypes: Bool) {
            self.oid = oid
            self.columns = columns
            typeNames = columns.indices.map { index in
                let base = index < facts.domainBaseTypeNames.count ? facts.domainBaseTypeNames[index] : nil
                let name =
                    (domainBaseTypes ? base : nil) ?? (index < facts.typeNames.count ? facts.typeNames[index] : nil)
                return Self.jsonTypeName(name ?? "???")
            }
            positions = facts.positions
            notNull = facts.notNull
            defaults = facts.defaults
            primaryKey = facts.primaryKey
            hasPrimaryKey = facts.hasPrimaryKey
            plainTypeNames = facts.typeNames
            domainBases = facts.domainBaseTypes
        }

        /// format_type quotes a name that needs it; wal2json then writes it as it is, unless it is
        /// an array (the brackets are outside the quotes).
        static func jsonTypeName(_ name: String) -> [UInt8] {
            if name.hasPrefix("\""), !name.hasSuffix("]") { return Array(name.utf8) }
            var bytes: [UInt8] = []
            JSONWriter.appendString(Array(name.utf8), to: &bytes)
            return bytes
        }
    }

    private let sql: CatalogConnection
    private let options: Wal2JSONOptions
    private var tables: [UInt32: Table] = [:]
    /// The table looked up last: consecutive changes mostly touch one table, and this spares
    /// them the dictionary (the columns compare by identity first).
    private var last: Table?
    /// The offset of the server's TimeZone for an instant (how its sessions print timestamptz).
    let zone: ServerTimeZone
    /// `current_database()`.
    let database: String

    /// Reads the server's settings; `options` says which column facts the lines need.
    init(sql: CatalogConnection, options: Wal2JSONOptions) throws(CLIError) {
        self.sql = sql
        self.options = options
        let settings = try attempt("reading the server's settings") { try ServerSettings.read(on: sql) }
        zone = ServerTimeZone(name: settings.timeZone, offset: settings.timeZoneOffset)
        database = settings.database
    }

    func forget(_ oid: UInt32) {
        tables[oid] = nil
        last = nil
    }

    /// Reads the facts of the tables `change` names that are not known for their current
    /// description: before any of its lines is encoded.
    func prepare(_ change: PGChange) throws(CLIError) {
        switch change {
        case .insert(let table, _), .update(let table, _, _, _), .delete(let table, _, _): try prepare(table)
        case .truncate(let tables, _, _): for table in tables { try prepare(table) }
        case .message: break
        }
    }

    func prepare(_ table: PGTable) throws(CLIError) {
        if known(table) != nil { return }
        let facts = try attempt("reading the catalog facts of \(table.qualifiedName)") {
            try ColumnFacts.read(for: table, attributes: options.needsAttributes, on: sql)
        }
        let prepared = Table(
            oid: table.oid, columns: table.columns, facts: facts, domainBaseTypes: options.includeDomainDataType)
        prepared.prepareEncodings(for: table, options)
        tables[table.oid] = prepared
        last = prepared
    }

    /// The facts of `table`, read by ``prepare(_:)`` before.
    func facts(for table: PGTable) throws(CLIError) -> Table {
        guard let known = known(table) else {
            throw CLIError(
                .server, "encoding \(table.qualifiedName)", "internal error: its catalog facts were not read first")
        }
        return known
    }

    /// The facts read for `table`'s current description, nil when there are none; the table
    /// looked up last is tried first.
    private func known(_ table: PGTable) -> Table? {
        if let last, last.oid == table.oid, last.columns == table.columns { return last }
        guard let known = tables[table.oid], known.columns == table.columns else { return nil }
        last = known
        return known
    }
}

/// The server's TimeZone, as its sessions print `timestamptz` values and wal2json its
/// timestamps: a zone of the tz database when Foundation knows it, else the offset the server
/// reported when the stream started.
struct ServerTimeZone {
    private let zone: TimeZone?
    private let fixedOffset: Int

    init(name: String, offset: Int) {
        zone = TimeZone(identifier: name)
        fixedOffset = offset
    }

    /// Seconds east of UTC at `time`.
    func offset(at time: PostgresTimestamp) -> Int {
        guard let zone, time != .infinity, time != .negativeInfinity else { return fixedOffset }
        return zone.secondsFromGMT(for: time.date)
    }

    func text(_ time: PostgresTimestamp) -> String { time.postgresText(utcOffset: offset(at: time)) }
}
