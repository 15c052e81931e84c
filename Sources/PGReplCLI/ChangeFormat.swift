import ArgumentParser
import PGOutput
import PGReplication

/// How `pgrepl stream` and `pgrepl demo` print decoded changes.
///
/// - `json`: one JSON object per line, close to wal2json's format-version 2 (see the README's
///   `### pgrepl stream` for the schema and the differences).
/// - `text`: one readable line per change, with BEGIN and COMMIT lines.
/// - `raw` (stream only): each pgoutput message as `LSN hex`, one per line.
enum ChangeFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    case json, text, raw

    /// The lines of a committed transaction, BEGIN to COMMIT. Empty transactions (the server sends
    /// them for transactions without published changes before PostgreSQL 15) give no lines.
    func lines(for transaction: PGTransaction) -> [String] {
        guard !transaction.changes.isEmpty else { return [] }
        switch self {
        case .json: return JSONChangeLines(transaction).lines
        case .text, .raw: return TextChangeLines(transaction).lines
        }
    }

    /// The lines of a batch of initial snapshot rows: `{"action":"R",…}` shaped like the `I` lines
    /// (without an xid: the rows belong to no transaction), or `SNAPSHOT` text lines.
    func lines(for batch: PGSnapshotBatch) -> [String] {
        switch self {
        case .json: return batch.rows.map { JSONChangeLines.snapshotRow($0, batch.table) }
        case .text, .raw:
            return batch.rows.map {
                "\(TextChangeLines.clock(nil)) SNAPSHOT \(batch.table.qualifiedName) \(TextChangeLines.fields($0))"
            }
        }
    }

    /// The line of a schema change (`--schema-changes`): `{"action":"S",…}` in JSON.
    func line(for change: PGSchemaChange) -> String {
        switch self {
        case .json: return JSONChangeLines.schemaChange(change)
        case .text, .raw:
            var parts: [String] = []
            if !change.added.isEmpty { parts.append("added " + change.added.joined(separator: ", ")) }
            if !change.dropped.isEmpty { parts.append("dropped " + change.dropped.joined(separator: ", ")) }
            if !change.retyped.isEmpty { parts.append("retyped " + change.retyped.joined(separator: ", ")) }
            if !change.renamed.isEmpty {
                parts.append("renamed " + change.renamed.map { "\($0.from) to \($0.to)" }.joined(separator: ", "))
            }
            if parts.isEmpty { parts.append("changed") }
            let columns = change.new.columns.map { "\($0.name) \(PGTypeOID($0.typeOID))" }.joined(separator: ", ")
            return
                "\(TextChangeLines.clock(nil)) SCHEMA \(change.new.qualifiedName): \(parts.joined(separator: "; ")) (\(columns))"
        }
    }

    /// The line of a non-transactional logical decoding message.
    func line(for message: PGLogicalDecodingMessage) -> String {
        switch self {
        case .json: return JSONChangeLines.message(message, xid: nil)
        case .text, .raw:
            return TextChangeLines.message(message, prefix: "\(TextChangeLines.clock(nil)) \(message.lsn)")
        }
    }
}

// MARK: - JSON lines

/// A transaction as JSON lines: `B`, one line per change (`I`, `U`, `D`, one `T` per truncated
/// table, `M`), `C`. Keys come in a fixed order, as wal2json writes them.
struct JSONChangeLines {
    let lines: [String]

    init(_ transaction: PGTransaction) {
        let xid = "\"xid\":\(transaction.xid)"
        let position =
            "\"lsn\":\(jsonString(transaction.commitLSN.description)),\"nextlsn\":\(jsonString(transaction.endLSN.description))"
            + ",\"timestamp\":\(jsonString(PGValue.timestamptz(transaction.commitTime).description))"
        var lines = ["{\"action\":\"B\",\(xid),\(position)}"]
        for change in transaction.changes {
            switch change {
            case .insert(let table, let new):
                lines.append(Self.row("I", xid, table, columns: new, identity: nil))
            case .update(let table, let old, let oldIsKey, let new):
                lines.append(
                    Self.row("U", xid, table, columns: new, identity: old.map { Self.identity($0, table, oldIsKey) }))
            case .delete(let table, let old, let oldIsKey):
                lines.append(Self.row("D", xid, table, columns: nil, identity: Self.identity(old, table, oldIsKey)))
            case .truncate(let tables, _, _):
                for table in tables {
                    lines.append("{\"action\":\"T\",\(xid),\(Self.tableFields(table))}")
                }
            case .message(let message):
                lines.append(Self.message(message, xid: transaction.xid))
            }
        }
        lines.append("{\"action\":\"C\",\(xid),\(position)}")
        self.lines = lines
    }

    static func message(_ message: PGLogicalDecodingMessage, xid: UInt32?) -> String {
        let content =
            String(validating: message.content, as: UTF8.self).map { "\"content\":\(jsonString($0))" }
            ?? "\"content_hex\":\(jsonString(hex(message.content)))"
        return "{\"action\":\"M\"" + (xid.map { ",\"xid\":\($0)" } ?? "")
            + ",\"transactional\":\(message.transactional),\"lsn\":\(jsonString(message.lsn.description))"
            + ",\"prefix\":\(jsonString(message.prefix)),\(content)}"
    }

    static func snapshotRow(_ row: PGRow, _ table: PGTable) -> String {
        "{\"action\":\"R\",\(tableFields(table)),\"columns\":" + columns(row) + "}"
    }

    /// `{"action":"S","schema":…,"table":…,"columns":[{"name":…,"type":…,"typeoid":…}],"added":[…],
    /// "dropped":[…],"retyped":[…],"renamed":[{"from":…,"to":…}]}`.
    static func schemaChange(_ change: PGSchemaChange) -> String {
        func names(_ list: [String]) -> String { "[" + list.map(jsonString).joined(separator: ",") + "]" }
        let columns = change.new.columns.map { column in
            "{\"name\":\(jsonString(column.name)),\"type\":\(jsonString(PGTypeOID(column.typeOID).description)),\"typeoid\":\(column.typeOID)}"
        }
        let renamed = change.renamed.map { "{\"from\":\(jsonString($0.from)),\"to\":\(jsonString($0.to))}" }
        return "{\"action\":\"S\",\(tableFields(change.new)),\"columns\":[\(columns.joined(separator: ","))]"
            + ",\"added\":\(names(change.added)),\"dropped\":\(names(change.dropped)),\"retyped\":\(names(change.retyped))"
            + ",\"renamed\":[\(renamed.joined(separator: ","))]}"
    }

    private static func tableFields(_ table: PGTable) -> String {
        "\"schema\":\(jsonString(table.schema)),\"table\":\(jsonString(table.name))"
    }

    /// The old row: the key columns only when the server sent the key.
    private static func identity(_ old: PGRow, _ table: PGTable, _ oldIsKey: Bool) -> PGRow {
        guard oldIsKey else { return old }
        let keys = old.columns.indices.filter { old.columns[$0].isKey }
        return PGRow(columns: keys.map { old.columns[$0] }, values: keys.map { old.values[$0] })
    }

    private static func row(
        _ action: String, _ xid: String, _ table: PGTable, columns: PGRow?, identity: PGRow?
    ) -> String {
        var line = "{\"action\":\"\(action)\",\(xid),\(tableFields(table))"
        if let columns { line += ",\"columns\":" + Self.columns(columns) }
        if let identity { line += ",\"identity\":" + Self.columns(identity) }
        return line + "}"
    }

    /// `[{"name":…,"type":…,"typeoid":…,"value":…}, …]`; unchanged TOASTed values are left out.
    static func columns(_ row: PGRow) -> String {
        let items = zip(row.columns, row.values).compactMap { column, value -> String? in
            if case .unchangedToast = value { return nil }
            return "{\"name\":\(jsonString(column.name)),\"type\":\(jsonString(PGTypeOID(column.typeOID).description))"
                + ",\"typeoid\":\(column.typeOID),\"value\":\(jsonValue(value))}"
        }
        return "[" + items.joined(separator: ",") + "]"
    }
}

/// A value in JSON: null, true/false, numbers for integers, finite floats and numerics (written
/// as the server writes them, so `1.50` stays `1.50`), strings in PostgreSQL's text form for the rest.
func jsonValue(_ value: PGValue) -> String {
    switch value {
    case .null, .unchangedToast: return "null"
    case .bool(let flag): return flag ? "true" : "false"
    case .int16, .int32, .int64, .oid: return value.description
    case .float32(let number) where number.isFinite: return value.description
    case .float64(let number) where number.isFinite: return value.description
    case .numeric(let number) where number.isFinite: return value.description
    default: return jsonString(value.description)
    }
}

/// A JSON string literal.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
            let digits = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// Lower-case hex digits of bytes.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

// MARK: - Text lines

/// A transaction as readable lines, each starting with the commit time (UTC, to the millisecond),
/// the commit LSN and the xid:
///
/// ```
/// 14:03:07.512 0/1A2B3C4 xid 751 BEGIN
/// 14:03:07.512 0/1A2B3C4 xid 751 INSERT public.orders id=1 qty=2 price=9.99 note='first order'
/// 14:03:07.512 0/1A2B3C4 xid 751 COMMIT next 0/1A2B400
/// ```
struct TextChangeLines {
    let lines: [String]

    init(_ transaction: PGTransaction) {
        let prefix = "\(Self.clock(transaction.commitTime)) \(transaction.commitLSN) xid \(transaction.xid)"
        var lines = ["\(prefix) BEGIN"]
        for change in transaction.changes {
            switch change {
            case .insert(let table, let new):
                lines.append("\(prefix) INSERT \(table.qualifiedName) \(Self.fields(new))")
            case .update(let table, let old, let oldIsKey, let new):
                var line = "\(prefix) UPDATE \(table.qualifiedName) \(Self.fields(new))"
                if let old { line += " (old\(oldIsKey ? " key" : ""): \(Self.fields(old, keysOnly: oldIsKey)))" }
                lines.append(line)
            case .delete(let table, let old, let oldIsKey):
                lines.append("\(prefix) DELETE \(table.qualifiedName) \(Self.fields(old, keysOnly: oldIsKey))")
            case .truncate(let tables, let cascade, let restartIdentity):
                lines.append(
                    "\(prefix) TRUNCATE \(tables.map(\.qualifiedName).joined(separator: ", "))"
                        + (restartIdentity ? " RESTART IDENTITY" : "") + (cascade ? " CASCADE" : ""))
            case .message(let message):
                lines.append(Self.message(message, prefix: prefix))
            }
        }
        lines.append("\(prefix) COMMIT next \(transaction.endLSN)")
        self.lines = lines
    }

    static func message(_ message: PGLogicalDecodingMessage, prefix: String) -> String {
        let content = String(validating: message.content, as: UTF8.self).map(quoted) ?? "\\x" + hex(message.content)
        return "\(prefix) MESSAGE \(quoted(message.prefix)) \(content)"
            + (message.transactional ? "" : " (non-transactional)")
    }

    /// `HH:MM:SS.mmm` of a commit time in UTC; spaces when there is none.
    static func clock(_ time: PostgresTimestamp?) -> String {
        guard let time, time != .infinity, time != .negativeInfinity else { return "            " }
        let microsecondsPerDay: Int64 = 86_400_000_000
        var ofDay = time.rawValue % microsecondsPerDay
        if ofDay < 0 { ofDay += microsecondsPerDay }
        let milliseconds = ofDay / 1000
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = milliseconds % 1000
        return "\(two(milliseconds / 3_600_000)):\(two(milliseconds / 60_000 % 60)):\(two(milliseconds / 1000 % 60))."
            + (millis < 10 ? "00" : millis < 100 ? "0" : "") + "\(millis)"
    }

    /// `name=value …`; unchanged TOASTed values show as `name=(unchanged)`.
    static func fields(_ row: PGRow, keysOnly: Bool = false) -> String {
        zip(row.columns, row.values).compactMap { column, value -> String? in
            if keysOnly, !column.isKey { return nil }
            switch value {
            case .null: return "\(column.name)=NULL"
            case .unchangedToast: return "\(column.name)=(unchanged)"
            default: return "\(column.name)=\(quoted(value.description))"
            }
        }.joined(separator: " ")
    }

    /// The text as it is when it reads unambiguously, else in single quotes with quotes and
    /// backslashes doubled, newlines, carriage returns and tabs written `\n`, `\r`, `\t`, and every other control
    /// character (C0, DEL, C1, the Unicode line and paragraph separators) as `\u{…}`: a value
    /// can neither break the line nor send a terminal escape sequence.
    static func quoted(_ text: String) -> String {
        let plain =
            !text.isEmpty && text != "NULL"
            && !text.unicodeScalars.contains { $0 == "'" || $0.properties.isWhitespace || isControl($0) }
        guard !plain else { return text }
        var out = "'"
        for scalar in text.unicodeScalars {
            switch scalar {
            case "'": out += "''"
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where isControl(scalar): out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "'"
    }

    /// C0 and C1 controls, DEL, and U+2028/U+2029 (which some terminals and viewers break lines at).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }
}
