import ArgumentParser
import PGOutput
import PGReplication

/// How `pgrepl stream` and `pgrepl demo` print decoded changes.
///
/// - `json`: wal2json's format-version 2, one JSON object per line (``Wal2JSONEncoder``).
/// - `debezium`: the envelope of Debezium's PostgreSQL connector (``DebeziumEncoder``).
/// - `text`: one readable line per change, with BEGIN and COMMIT lines.
/// - `raw` (stream only): each pgoutput message as `LSN hex`, one per line.
enum ChangeFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    case json, debezium, text, raw

    /// The text line of a schema change (`--schema-changes`).
    func line(for change: PGSchemaChange) -> String {
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
        let prefix = Self.prefix(transaction.commitTime, transaction.commitLSN, transaction.xid)
        lines =
            ["\(prefix) BEGIN"] + transaction.changes.map { "\(prefix) \(Self.line(for: $0))" }
            + ["\(prefix) COMMIT next \(transaction.endLSN)"]
    }

    /// What starts each line of a transaction: commit time, commit LSN, xid.
    static func prefix(_ time: PostgresTimestamp?, _ commitLSN: LSN, _ xid: UInt32) -> String {
        "\(clock(time)) \(commitLSN) xid \(xid)"
    }

    /// One change, after the prefix.
    static func line(for change: PGChange) -> String {
        switch change {
        case .insert(let table, let new):
            return "INSERT \(table.qualifiedName) \(fields(new))"
        case .update(let table, let old, let oldIsKey, let new):
            var line = "UPDATE \(table.qualifiedName) \(fields(new))"
            if let old { line += " (old\(oldIsKey ? " key" : ""): \(fields(old, keysOnly: oldIsKey)))" }
            return line
        case .delete(let table, let old, let oldIsKey):
            return "DELETE \(table.qualifiedName) \(fields(old, keysOnly: oldIsKey))"
        case .truncate(let tables, let cascade, let restartIdentity):
            return "TRUNCATE \(tables.map(\.qualifiedName).joined(separator: ", "))"
                + (restartIdentity ? " RESTART IDENTITY" : "") + (cascade ? " CASCADE" : "")
        case .message(let message):
            return Self.message(message)
        }
    }

    /// One change and a newline appended as bytes: what ``line(for:)`` gives, without building
    /// the whole line as a string first (a large value is copied once, into `out`).
    static func appendLine(for change: PGChange, to out: inout [UInt8]) {
        func append(_ text: String) { out.append(contentsOf: text.utf8) }
        func appendFields(_ row: PGRow, keysOnly: Bool = false) {
            var first = true
            for (column, value) in zip(row.columns, row.values) where !keysOnly || column.isKey {
                if !first { out.append(0x20) }
                first = false
                append(column.name)
                switch value {
                case .null: append("=NULL")
                case .unchangedToast: append("=(unchanged)")
                default:
                    out.append(0x3D)
                    let text = quoted(value.description)
                    if text.utf8.count > 1 << 16 { out.reserveCapacity(out.count + text.utf8.count + 1024) }
                    append(text)
                }
            }
        }
        switch change {
        case .insert(let table, let new):
            append("INSERT \(table.qualifiedName) ")
            appendFields(new)
        case .update(let table, let old, let oldIsKey, let new):
            append("UPDATE \(table.qualifiedName) ")
            appendFields(new)
            if let old {
                append(" (old\(oldIsKey ? " key" : ""): ")
                appendFields(old, keysOnly: oldIsKey)
                append(")")
            }
        case .delete(let table, let old, let oldIsKey):
            append("DELETE \(table.qualifiedName) ")
            appendFields(old, keysOnly: oldIsKey)
        case .truncate, .message:
            append(line(for: change))
        }
        out.append(0x0A)
    }

    static func message(_ message: PGLogicalDecodingMessage) -> String {
        let content = String(validating: message.content, as: UTF8.self).map(quoted) ?? "\\x" + hex(message.content)
        return "MESSAGE \(quoted(message.prefix)) \(content)"
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
