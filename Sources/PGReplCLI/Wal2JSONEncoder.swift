import Foundation
import PGOutput
import PGReplication

/// What wal2json reads from the catalog and pgoutput does not send, per table: type names as
/// `format_type` prints them, and (for `include-pk`, `include-not-null`, `include-default`,
/// `include-column-positions`) each column's attributes.
///
/// Read on an ordinary connection once per table and again when the table's description in the
/// stream changes (a Relation message with other columns, a schema change).
final class CatalogFacts {
    final class Table {
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
        /// What the encoder writes for the table and each column, made once per description:
        /// `,"schema":…,"table":…`; `{"name":…,"type":…,"typeoid":…,"value":` and what follows
        /// the value in `columns` (optional, position, default, `}`) and in `identity`; the
        /// whole item in `pk`.
        @exclusivity(unchecked) var tableFields: [UInt8] = []
        /// Per column, one after the other in ``encoded``: the item's start up to its value, what
        /// follows the value in `columns`, and the whole `pk` item; ``offsets`` has their ends
        /// (4 per column: start, value, end of the `columns` item, end of the `pk` item).
        @exclusivity(unchecked) var encoded: [UInt8] = []
        @exclusivity(unchecked) var offsets: [Int] = []
        @exclusivity(unchecked) var typeOIDs: [UInt32] = []
        /// Per column: 1 a replica-identity key column, 2 a primary-key column.
        @exclusivity(unchecked) var flags: [UInt8] = []

        init(
            columns: [RelationColumn], typeNames: [[UInt8]], positions: [Int], notNull: [Bool], defaults: [String?],
            primaryKey: [Bool], hasPrimaryKey: Bool
        ) {
            self.columns = columns
            self.typeNames = typeNames
            self.positions = positions
            self.notNull = notNull
            self.defaults = defaults
            self.primaryKey = primaryKey
            self.hasPrimaryKey = hasPrimaryKey
        }
    }

    private let sql: CatalogConnection
    private let options: Wal2JSONOptions
    private var tables: [UInt32: Table] = [:]
    /// The offset of the server's TimeZone for an instant (how its sessions print timestamptz).
    let zone: ServerTimeZone

    init(sql: CatalogConnection, options: Wal2JSONOptions) throws {
        self.sql = sql
        self.options = options
        zone = try ServerTimeZone(sql)
    }

    func forget(_ oid: UInt32) { tables[oid] = nil }

    func facts(for table: PGTable) throws -> Table {
        if let known = tables[table.oid], known.columns == table.columns { return known }
        let oids = table.columns.map { String($0.typeOID) }.joined(separator: ",")
        let modifiers = table.columns.map { String($0.typeModifier) }.joined(separator: ",")
        let types = try sql.execute(
            """
            SELECT format_type(u.type, u.modifier), t.typtype = 'd', format_type(t.typbasetype, t.typtypmod)
            FROM unnest(ARRAY[\(oids)]::oid[], ARRAY[\(modifiers)]::int4[]) WITH ORDINALITY AS u(type, modifier, n)
            LEFT JOIN pg_type t ON t.oid = u.type
            ORDER BY u.n
            """)
        let typeNames = table.columns.indices.map { index -> [UInt8] in
            let row = index < types.rows.count ? types.rows[index] : []
            let isDomain = row.count > 1 && row[1] == "t"
            let name = (options.includeDomainDataType && isDomain ? row[2] : row.first ?? nil) ?? "???"
            // format_type quotes a name that needs it; wal2json then writes it as it is, unless
            // it is an array (the brackets are outside the quotes).
            if name.hasPrefix("\""), !name.hasSuffix("]") { return Array(name.utf8) }
            var bytes: [UInt8] = []
            JSONWriter.appendString(Array(name.utf8), to: &bytes)
            return bytes
        }
        let facts = Table(
            columns: table.columns, typeNames: typeNames, positions: [], notNull: [], defaults: [], primaryKey: [],
            hasPrimaryKey: false)
        if options.needsAttributes {
            let rows = try sql.execute(
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
        }
        facts.prepareEncodings(for: table, options)
        tables[table.oid] = facts
        return facts
    }
}

extension CatalogFacts.Table {
    /// Builds the fixed parts of the encoding (see the properties).
    func prepareEncodings(for table: PGTable, _ options: Wal2JSONOptions) {
        tableFields = []
        if options.includeSchemas {
            JSONWriter.append(",\"schema\":", to: &tableFields)
            JSONWriter.appendString(table.schema, to: &tableFields)
        }
        JSONWriter.append(",\"table\":", to: &tableFields)
        JSONWriter.appendString(table.name, to: &tableFields)
        typeOIDs = table.columns.map(\.typeOID)
        flags = table.columns.indices.map { index in
            (table.columns[index].isKey ? 1 : 0) | (index < primaryKey.count && primaryKey[index] ? 2 : 0)
        }
        encoded = []
        offsets = []
        for (index, column) in table.columns.enumerated() {
            offsets.append(encoded.count)
            var head: [UInt8] = []
            JSONWriter.append("{\"name\":", to: &head)
            JSONWriter.appendString(column.name, to: &head)
            if options.includeTypes, index < typeNames.count {
                JSONWriter.append(",\"type\":", to: &head)
                head += typeNames[index]
            }
            if options.includeTypeOids {
                JSONWriter.append(",\"typeoid\":", to: &head)
                JSONWriter.appendNumber(Int32(bitPattern: column.typeOID), to: &head)
            }
            encoded += head
            JSONWriter.append(",\"value\":", to: &encoded)
            offsets.append(encoded.count)
            if options.includeNotNull, index < notNull.count {
                JSONWriter.append(notNull[index] ? ",\"optional\":false" : ",\"optional\":true", to: &encoded)
            }
            if options.includeColumnPositions, index < positions.count {
                JSONWriter.append(",\"position\":", to: &encoded)
                JSONWriter.appendNumber(positions[index], to: &encoded)
            }
            if options.includeDefault, index < defaults.count {
                if let expression = defaults[index] {
                    // wal2json writes the expression in quotes, unescaped.
                    JSONWriter.append(",\"default\":\"", to: &encoded)
                    encoded += Array(expression.utf8)
                    encoded.append(0x22)
                } else {
                    JSONWriter.append(",\"default\":null", to: &encoded)
                }
            }
            encoded.append(0x7D)
            offsets.append(encoded.count)
            encoded += head
            encoded.append(0x7D)
            offsets.append(encoded.count)
        }
    }
}

/// The server's TimeZone, as its sessions print `timestamptz` values and wal2json its
/// timestamps: a zone of the tz database when Foundation knows it, else the offset the server
/// reports now.
struct ServerTimeZone {
    private let zone: TimeZone?
    private let fixedOffset: Int

    init(_ sql: CatalogConnection) throws {
        let name = try sql.execute("SHOW TimeZone").scalar ?? "UTC"
        zone = TimeZone(identifier: name)
        fixedOffset =
            Int(try sql.execute("SELECT EXTRACT(TIMEZONE FROM now())::int").scalar ?? "0") ?? 0
    }

    /// Seconds east of UTC at `time`.
    func offset(at time: PostgresTimestamp) -> Int {
        guard let zone, time != .infinity, time != .negativeInfinity else { return fixedOffset }
        return zone.secondsFromGMT(for: time.date)
    }

    func text(_ time: PostgresTimestamp) -> String { time.postgresText(utcOffset: offset(at: time)) }
}

/// JSON into a byte buffer, with PostgreSQL's `escape_json` rules (what wal2json uses):
/// `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other bytes below 0x20 as `\u00xx`, the rest as is.
enum JSONWriter {
    static func appendString(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        // A large value grows the buffer once, not by doubling (each step holds old and new).
        if bytes.count > 1 << 16 { out.reserveCapacity(out.count + bytes.count + bytes.count / 16 + 64) }
        out.append(0x22)
        var start = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
            if start < index { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index])) }
            start = index + 1
            switch byte {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, 0x62])
            case 0x0C: out.append(contentsOf: [0x5C, 0x66])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            default:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            }
        }
        if start < bytes.count { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count])) }
        out.append(0x22)
    }

    static func appendString(_ bytes: [UInt8], to out: inout [UInt8]) {
        bytes.withUnsafeBytes { appendString($0, to: &out) }
    }

    static func appendString(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendString(UnsafeRawBufferPointer($0), to: &out) }
    }

    static func append(_ text: StaticString, to out: inout [UInt8]) {
        text.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    static func appendNumber<T: BinaryInteger>(_ value: T, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }
}

/// Lines in wal2json's format-version 2, written straight into a byte buffer: every line equals
/// the one wal2json (2.5 and later) writes for the same change with the same options. Values
/// in text mode are the server's text output bytes (escaped as JSON); binary values are brought
/// to the same text.
final class Wal2JSONEncoder {
    let options: Wal2JSONOptions
    let catalog: CatalogFacts

    init(options: Wal2JSONOptions, catalog: CatalogFacts) {
        self.options = options
        self.catalog = catalog
    }

    // MARK: - B and C

    func begin(xid: UInt32, commitLSN: LSN, endLSN: LSN?, time: PostgresTimestamp, into out: inout [UInt8]) {
        guard options.includeTransaction else { return }
        transactionLine("B", xid: xid, commitLSN: commitLSN, endLSN: endLSN, time: time, into: &out)
    }

    func commit(_ transaction: PGTransaction, into out: inout [UInt8]) {
        guard options.includeTransaction else { return }
        transactionLine(
            "C", xid: transaction.xid, commitLSN: transaction.commitLSN, endLSN: transaction.endLSN,
            time: transaction.commitTime, into: &out)
    }

    /// Whether a B line needs what only the commit tells (`include-lsn`: the commit record's end).
    var beginNeedsCommit: Bool { options.includeTransaction && options.includeLSN }

    /// A two-phase line (pgrepl's own; wal2json has none): `P` where a prepared transaction ends
    /// (in place of its `C`), `CP` for its COMMIT PREPARED, `RP` for its ROLLBACK PREPARED; each
    /// with the `gid`, and the transaction fields the options ask for.
    func twoPhaseLine(
        _ action: StaticString, gid: String, xid: UInt32, lsn: LSN, endLSN: LSN, time: PostgresTimestamp,
        into out: inout [UInt8]
    ) {
        transactionLine(action, gid: gid, xid: xid, commitLSN: lsn, endLSN: endLSN, time: time, into: &out)
    }

    private func transactionLine(
        _ action: StaticString, gid: String? = nil, xid: UInt32, commitLSN: LSN, endLSN: LSN?,
        time: PostgresTimestamp, into out: inout [UInt8]
    ) {
        JSONWriter.append("{\"action\":\"", to: &out)
        JSONWriter.append(action, to: &out)
        out.append(0x22)
        if let gid {
            JSONWriter.append(",\"gid\":", to: &out)
            JSONWriter.appendString(gid, to: &out)
        }
        if options.includeXids {
            JSONWriter.append(",\"xid\":", to: &out)
            JSONWriter.appendNumber(xid, to: &out)
        }
        if options.includeTimestamp { out += timestampField(time) }
        if options.includeLSN {
            JSONWriter.append(",\"lsn\":", to: &out)
            JSONWriter.appendString(commitLSN.description, to: &out)
            JSONWriter.append(",\"nextlsn\":", to: &out)
            JSONWriter.appendString((endLSN ?? 0).description, to: &out)
        }
        JSONWriter.append("}\n", to: &out)
    }

    /// `,"timestamp":"…"` for a commit time, as the server's TimeZone prints it.
    func timestampField(_ time: PostgresTimestamp) -> [UInt8] {
        var out: [UInt8] = []
        JSONWriter.append(",\"timestamp\":", to: &out)
        JSONWriter.appendString(catalog.zone.text(time), to: &out)
        return out
    }

    // MARK: - Changes

    /// Appends the lines of one change to `out` (none when options leave it out). `time` is the
    /// commit time when known; when it is nil and `include-timestamp` is on, the offsets in `out`
    /// where its field goes are returned (a truncate writes a line per table).
    func change(
        _ change: PGChange, xid: UInt32, lsn: LSN?, time: PostgresTimestamp?, into out: inout [UInt8]
    ) throws -> [Int] {
        var points: [Int] = []
        func note(_ point: Int?) { if let point { points.append(point) } }
        switch change {
        case .insert(let table, let new):
            guard options.actions.contains(.insert), options.includes(schema: table.schema, table: table.name) else {
                return []
            }
            note(try rowChange("I", table, xid: xid, lsn: lsn, time: time, new: new, identity: nil, into: &out))
        case .update(let table, let old, let oldIsKey, let new):
            guard options.actions.contains(.update), options.includes(schema: table.schema, table: table.name) else {
                return []
            }
            // The old key, the old row (REPLICA IDENTITY FULL), or, when the server sent neither
            // (the key did not change), the key columns of the new row.
            let identity: (row: PGRow, keysOnly: Bool)? =
                old.map { ($0, oldIsKey) } ?? (table.columns.contains(where: \.isKey) ? (new, true) : nil)
            note(try rowChange("U", table, xid: xid, lsn: lsn, time: time, new: new, identity: identity, into: &out))
        case .delete(let table, let old, let oldIsKey):
            guard options.actions.contains(.delete), options.includes(schema: table.schema, table: table.name) else {
                return []
            }
            note(
                try rowChange(
                    "D", table, xid: xid, lsn: lsn, time: time, new: nil, identity: (old, oldIsKey), into: &out))
        case .truncate(let tables, _, _):
            guard options.actions.contains(.truncate) else { return [] }
            for table in tables where options.includes(schema: table.schema, table: table.name) {
                note(head("T", xid: xid, time: time, lsn: lsn, into: &out))
                out += try catalog.facts(for: table).tableFields
                JSONWriter.append("}\n", to: &out)
            }
        case .message(let message):
            guard options.includes(messagePrefix: message.prefix) else { return [] }
            note(self.message(message, xid: xid, time: time, into: &out))
        }
        return points
    }

    /// `{"action":"X"` with xid, timestamp and lsn as asked; returns where the timestamp goes
    /// when `time` is not known yet.
    private func head(
        _ action: StaticString, xid: UInt32?, time: PostgresTimestamp?, lsn: LSN?, into out: inout [UInt8]
    )
        -> Int?
    {
        JSONWriter.append("{\"action\":\"", to: &out)
        JSONWriter.append(action, to: &out)
        out.append(0x22)
        if options.includeXids {
            JSONWriter.append(",\"xid\":", to: &out)
            if let xid { JSONWriter.appendNumber(xid, to: &out) } else { JSONWriter.append("null", to: &out) }
        }
        var point: Int?
        if options.includeTimestamp {
            if let time {
                out += timestampField(time)
            } else {
                point = out.count
            }
        }
        if options.includeLSN, let lsn {
            JSONWriter.append(",\"lsn\":", to: &out)
            JSONWriter.appendString(lsn.description, to: &out)
        }
        return point
    }

    private func tableFields(_ table: PGTable, into out: inout [UInt8]) {
        if options.includeSchemas {
            JSONWriter.append(",\"schema\":", to: &out)
            JSONWriter.appendString(table.schema, to: &out)
        }
        JSONWriter.append(",\"table\":", to: &out)
        JSONWriter.appendString(table.name, to: &out)
    }

    private func rowChange(
        _ action: StaticString, _ table: PGTable, xid: UInt32, lsn: LSN?, time: PostgresTimestamp?, new: PGRow?,
        identity: (row: PGRow, keysOnly: Bool)?, into out: inout [UInt8]
    ) throws -> Int? {
        let facts = try catalog.facts(for: table)
        let point = head(action, xid: xid, time: time, lsn: lsn, into: &out)
        out += facts.tableFields
        if let new {
            JSONWriter.append(",\"columns\":[", to: &out)
            columns(new, facts, kind: .change, keysOnly: false, into: &out)
            out.append(0x5D)
        }
        if let identity {
            JSONWriter.append(",\"identity\":[", to: &out)
            columns(identity.row, facts, kind: .identity, keysOnly: identity.keysOnly, into: &out)
            out.append(0x5D)
        }
        if options.includePK {
            JSONWriter.append(",\"pk\":[", to: &out)
            if facts.hasPrimaryKey {
                columns(new ?? identity?.row, facts, kind: .primaryKey, keysOnly: false, into: &out)
            }
            out.append(0x5D)
        }
        JSONWriter.append("}\n", to: &out)
        return point
    }

    enum ColumnKind { case change, identity, primaryKey }

    /// The `[{…},…]` items of a row: unchanged TOASTed values left out, as wal2json does. With
    /// the row's tuple, text values are copied from the server's bytes, and no decoded value is
    /// read.
    private func columns(
        _ row: PGRow?, _ facts: CatalogFacts.Table, kind: ColumnKind, keysOnly: Bool, into out: inout [UInt8]
    ) {
        guard let row else { return }
        // Borrowed once per row: nothing in the loop retains or releases.
        facts.encoded.withUnsafeBufferPointer { encoded in
            facts.offsets.withUnsafeBufferPointer { offsets in
                facts.typeOIDs.withUnsafeBufferPointer { types in
                    facts.flags.withUnsafeBufferPointer { flags in
                        var first = true
                        let count = types.count
                        func put(_ from: Int, _ to: Int) {
                            out.append(contentsOf: UnsafeBufferPointer(rebasing: encoded[offsets[from]..<offsets[to]]))
                        }
                        /// Writes the item's head; false when the column is left out.
                        func begin(_ index: Int) -> Bool {
                            guard index < count else { return false }
                            if keysOnly, flags[index] & 1 == 0 { return false }
                            if kind == .primaryKey, flags[index] & 2 == 0 { return false }
                            if !first { out.append(0x2C) }
                            first = false
                            if kind == .primaryKey {
                                put(4 * index + 2, 4 * index + 3)
                                return false
                            }
                            put(4 * index, 4 * index + 1)
                            return true
                        }
                        func end(_ index: Int) {
                            if kind == .change { put(4 * index + 1, 4 * index + 2) } else { out.append(0x7D) }
                        }
                        if let tuple = row.tuple {
                            tuple.forEachColumn { index, wireKind, bytes in
                                guard wireKind != .unchangedToast, begin(index) else { return }
                                switch wireKind {
                                case .null, .unchangedToast: JSONWriter.append("null", to: &out)
                                case .text: appendText(bytes, type: types[index], into: &out)
                                case .binary: value(row.values[index], type: types[index], into: &out)
                                }
                                end(index)
                            }
                        } else {
                            let values = row.values
                            for index in values.indices {
                                if case .unchangedToast = values[index] { continue }
                                guard begin(index) else { continue }
                                value(values[index], type: types[index], into: &out)
                                end(index)
                            }
                        }
                    }
                }
            }
        }
    }

    /// A decoded value (binary mode, or a row without its tuple) as its text output would be.
    private func value(_ value: PGValue, type: UInt32, into out: inout [UInt8]) {
        var text: String
        switch value {
        case .null, .unchangedToast:
            JSONWriter.append("null", to: &out)
            return
        case .timestamptz(let time): text = catalog.zone.text(time)
        case .bool(let flag): text = flag ? "t" : "f"
        default: text = value.description
        }
        text.withUTF8 { appendText(UnsafeRawBufferPointer($0), type: type, into: &out) }
    }

    /// A value's text output: numbers bare (NaN and infinities as null), booleans, bytea without
    /// its `\x`, everything else as a JSON string.
    private func appendText(_ bytes: UnsafeRawBufferPointer, type: UInt32, into out: inout [UInt8]) {
        switch type {
        case 20, 21, 23, 26, 700, 701, 1700:  // int8, int2, int4, oid, float4, float8, numeric
            if options.numericDataTypesAsString {
                JSONWriter.appendString(bytes, to: &out)
            } else if Self.isSpecialNumber(bytes) {
                JSONWriter.append("null", to: &out)
            } else {
                out.append(contentsOf: bytes)
            }
        case 16:  // bool
            if bytes.count == 1, bytes[0] == 0x74 {
                JSONWriter.append("true", to: &out)
            } else {
                JSONWriter.append("false", to: &out)
            }
        case 17:  // bytea: the hex digits after `\x`
            JSONWriter.appendString(UnsafeRawBufferPointer(rebasing: bytes[min(2, bytes.count)...]), to: &out)
        default:
            JSONWriter.appendString(bytes, to: &out)
        }
    }

    /// `NaN`, `Infinity`, `-Infinity`, compared as wal2json does (case-insensitive prefixes).
    private static func isSpecialNumber(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let first = bytes.first else { return false }
        // Digits, signs and dots start every other number.
        let letter = first | 0x20
        guard letter == 0x6E || letter == 0x69 || (first == 0x2D && bytes.count > 1 && bytes[1] | 0x20 == 0x69) else {
            return false
        }
        func starts(with word: StaticString) -> Bool {
            guard bytes.count >= word.utf8CodeUnitCount else { return false }
            let pointer = word.utf8Start
            for index in 0..<word.utf8CodeUnitCount where bytes[index] | 0x20 != pointer[index] { return false }
            return true
        }
        return starts(with: "nan") || starts(with: "infinity") || (first == 0x2D && starts(with: "-infinity"))
    }

    // MARK: - Messages, snapshot rows, schema changes

    /// An `M` line; `xid` nil for a non-transactional message (`"xid":null`, `"timestamp":null`).
    func message(
        _ message: PGLogicalDecodingMessage, xid: UInt32?, time: PostgresTimestamp?, into out: inout [UInt8]
    )
        -> Int?
    {
        JSONWriter.append("{\"action\":\"M\"", to: &out)
        if options.includeXids {
            JSONWriter.append(",\"xid\":", to: &out)
            if message.isTransactional, let xid {
                JSONWriter.appendNumber(xid, to: &out)
            } else {
                JSONWriter.append("null", to: &out)
            }
        }
        var point: Int?
        if options.includeTimestamp {
            if !message.isTransactional {
                JSONWriter.append(",\"timestamp\":null", to: &out)
            } else if let time {
                out += timestampField(time)
            } else {
                point = out.count
            }
        }
        if options.includeLSN {
            JSONWriter.append(",\"lsn\":", to: &out)
            JSONWriter.appendString(message.lsn.description, to: &out)
        }
        JSONWriter.append(message.isTransactional ? ",\"transactional\":true" : ",\"transactional\":false", to: &out)
        JSONWriter.append(",\"prefix\":", to: &out)
        JSONWriter.appendString(message.prefix, to: &out)
        JSONWriter.append(",\"content\":", to: &out)
        // wal2json copies the content as a C string: up to its first NUL.
        let content = message.content.prefix { $0 != 0 }
        JSONWriter.appendString(Array(content), to: &out)
        JSONWriter.append("}\n", to: &out)
        return point
    }

    /// An `R` line (initial snapshot or backfill row): shaped like an `I` line, without an xid.
    func snapshotRow(_ row: PGRow, _ table: PGTable, into out: inout [UInt8]) throws {
        let facts = try catalog.facts(for: table)
        JSONWriter.append("{\"action\":\"R\"", to: &out)
        tableFields(table, into: &out)
        JSONWriter.append(",\"columns\":[", to: &out)
        columns(row, facts, kind: .change, keysOnly: false, into: &out)
        JSONWriter.append("]}\n", to: &out)
    }

    /// An `S` line (`--schema-changes`): the table's new columns and what changed.
    func schemaChange(_ change: PGSchemaChange, into out: inout [UInt8]) throws {
        catalog.forget(change.new.oid)
        let facts = try catalog.facts(for: change.new)
        JSONWriter.append("{\"action\":\"S\"", to: &out)
        tableFields(change.new, into: &out)
        JSONWriter.append(",\"columns\":[", to: &out)
        for (index, column) in change.new.columns.enumerated() {
            if index > 0 { out.append(0x2C) }
            JSONWriter.append("{\"name\":", to: &out)
            JSONWriter.appendString(column.name, to: &out)
            JSONWriter.append(",\"type\":", to: &out)
            out += facts.typeNames[index]
            JSONWriter.append(",\"typeoid\":", to: &out)
            JSONWriter.appendNumber(column.typeOID, to: &out)
            out.append(0x7D)
        }
        func names(_ key: StaticString, _ list: [String]) {
            JSONWriter.append(key, to: &out)
            for (index, name) in list.enumerated() {
                if index > 0 { out.append(0x2C) }
                JSONWriter.appendString(name, to: &out)
            }
            out.append(0x5D)
        }
        out.append(0x5D)
        names(",\"added\":[", change.added)
        names(",\"dropped\":[", change.dropped)
        names(",\"retyped\":[", change.retyped)
        JSONWriter.append(",\"renamed\":[", to: &out)
        for (index, rename) in change.renamed.enumerated() {
            if index > 0 { out.append(0x2C) }
            JSONWriter.append("{\"from\":", to: &out)
            JSONWriter.appendString(rename.from, to: &out)
            JSONWriter.append(",\"to\":", to: &out)
            JSONWriter.appendString(rename.to, to: &out)
            out.append(0x7D)
        }
        JSONWriter.append("]}\n", to: &out)
    }
}
