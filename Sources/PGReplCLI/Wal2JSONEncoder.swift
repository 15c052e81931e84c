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
    struct Table {
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
    }

    private let sql: PGConnection
    private let options: Wal2JSONOptions
    private var tables: [UInt32: Table] = [:]
    /// The offset of the server's TimeZone for an instant (how its sessions print timestamptz).
    let zone: ServerTimeZone

    init(sql: PGConnection, options: Wal2JSONOptions) throws {
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
        var facts = Table(
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
        tables[table.oid] = facts
        return facts
    }
}

/// The server's TimeZone, as its sessions print `timestamptz` values and wal2json its
/// timestamps: a zone of the tz database when Foundation knows it, else the offset the server
/// reports now.
struct ServerTimeZone {
    private let zone: TimeZone?
    private let fixedOffset: Int

    init(_ sql: PGConnection) throws {
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
        out.append(0x22)
        var start = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
            if start < index { out.append(contentsOf: bytes[start..<index]) }
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
        if start < bytes.count { out.append(contentsOf: bytes[start..<bytes.count]) }
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
struct Wal2JSONEncoder {
    let options: Wal2JSONOptions
    let catalog: CatalogFacts

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

    private func transactionLine(
        _ action: StaticString, xid: UInt32, commitLSN: LSN, endLSN: LSN?, time: PostgresTimestamp,
        into out: inout [UInt8]
    ) {
        JSONWriter.append("{\"action\":\"", to: &out)
        JSONWriter.append(action, to: &out)
        out.append(0x22)
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

    /// Appends the lines of one change (none when options leave it out). `time` is the commit
    /// time when known; when it is nil and `include-timestamp` is on, the returned offset is
    /// where its field goes (a change gives at most one line, but a truncate one per table:
    /// those are returned one by one through `line`).
    func change(
        _ change: PGChange, xid: UInt32, lsn: LSN?, time: PostgresTimestamp?,
        line: (_ bytes: inout [UInt8], _ insertionPoint: Int?) throws -> Void
    ) throws {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        switch change {
        case .insert(let table, let new):
            guard options.actions.contains(.insert), options.includes(schema: table.schema, table: table.name) else {
                return
            }
            let point = try rowChange("I", table, xid: xid, lsn: lsn, time: time, new: new, identity: nil, into: &out)
            try line(&out, point)
        case .update(let table, let old, let oldIsKey, let new):
            guard options.actions.contains(.update), options.includes(schema: table.schema, table: table.name) else {
                return
            }
            // The old key, the old row (REPLICA IDENTITY FULL), or, when the server sent neither
            // (the key did not change), the key columns of the new row.
            let identity: (row: PGRow, keysOnly: Bool)? =
                old.map { ($0, oldIsKey) } ?? (table.columns.contains(where: \.isKey) ? (new, true) : nil)
            let point = try rowChange(
                "U", table, xid: xid, lsn: lsn, time: time, new: new, identity: identity, into: &out)
            try line(&out, point)
        case .delete(let table, let old, let oldIsKey):
            guard options.actions.contains(.delete), options.includes(schema: table.schema, table: table.name) else {
                return
            }
            let point = try rowChange(
                "D", table, xid: xid, lsn: lsn, time: time, new: nil, identity: (old, oldIsKey), into: &out)
            try line(&out, point)
        case .truncate(let tables, _, _):
            guard options.actions.contains(.truncate) else { return }
            for table in tables where options.includes(schema: table.schema, table: table.name) {
                out.removeAll(keepingCapacity: true)
                let point = head("T", xid: xid, time: time, lsn: lsn, into: &out)
                tableFields(table, into: &out)
                JSONWriter.append("}\n", to: &out)
                try line(&out, point)
            }
        case .message(let message):
            guard options.includes(messagePrefix: message.prefix) else { return }
            let point = self.message(message, xid: xid, time: time, into: &out)
            try line(&out, point)
        }
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
        tableFields(table, into: &out)
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
    /// the row's tuple, text values are copied from the server's bytes.
    private func columns(
        _ row: PGRow?, _ facts: CatalogFacts.Table, kind: ColumnKind, keysOnly: Bool, into out: inout [UInt8]
    ) {
        guard let row else { return }
        var first = true
        func item(_ index: Int, unchanged: Bool, text: UnsafeRawBufferPointer?) {
            guard index < row.columns.count else { return }
            let column = row.columns[index]
            if keysOnly, !column.isKey { return }
            if kind == .primaryKey, !(index < facts.primaryKey.count && facts.primaryKey[index]) { return }
            if unchanged { return }
            if case .unchangedToast = row.values[index] { return }
            if !first { out.append(0x2C) }
            first = false
            JSONWriter.append("{\"name\":", to: &out)
            JSONWriter.appendString(column.name, to: &out)
            if options.includeTypes, index < facts.typeNames.count {
                JSONWriter.append(",\"type\":", to: &out)
                out += facts.typeNames[index]
            }
            if options.includeTypeOids {
                JSONWriter.append(",\"typeoid\":", to: &out)
                JSONWriter.appendNumber(Int32(bitPattern: column.typeOID), to: &out)
            }
            if kind != .primaryKey {
                JSONWriter.append(",\"value\":", to: &out)
                if let text {
                    appendText(text, type: column.typeOID, into: &out)
                } else {
                    value(row.values[index], type: column.typeOID, into: &out)
                }
            }
            if kind == .change {
                if options.includeNotNull, index < facts.notNull.count {
                    if facts.notNull[index] {
                        JSONWriter.append(",\"optional\":false", to: &out)
                    } else {
                        JSONWriter.append(",\"optional\":true", to: &out)
                    }
                }
                if options.includeColumnPositions, index < facts.positions.count {
                    JSONWriter.append(",\"position\":", to: &out)
                    JSONWriter.appendNumber(facts.positions[index], to: &out)
                }
                if options.includeDefault, index < facts.defaults.count {
                    if let expression = facts.defaults[index] {
                        // wal2json writes the expression in quotes, unescaped.
                        JSONWriter.append(",\"default\":\"", to: &out)
                        out += Array(expression.utf8)
                        out.append(0x22)
                    } else {
                        JSONWriter.append(",\"default\":null", to: &out)
                    }
                }
            }
            out.append(0x7D)
        }
        if let tuple = row.tuple {
            tuple.forEachColumn { index, wireKind, bytes in
                item(index, unchanged: wireKind == .unchangedToast, text: wireKind == .text ? bytes : nil)
            }
        } else {
            for index in row.columns.indices { item(index, unchanged: false, text: nil) }
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
        func starts(with word: String) -> Bool {
            let word = Array(word.utf8)
            guard bytes.count >= word.count else { return false }
            for index in word.indices where bytes[index] | 0x20 != word[index] | 0x20 { return false }
            return true
        }
        return starts(with: "nan") || starts(with: "infinity") || starts(with: "-infinity")
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
            if message.transactional, let xid {
                JSONWriter.appendNumber(xid, to: &out)
            } else {
                JSONWriter.append("null", to: &out)
            }
        }
        var point: Int?
        if options.includeTimestamp {
            if !message.transactional {
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
        JSONWriter.append(message.transactional ? ",\"transactional\":true" : ",\"transactional\":false", to: &out)
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
