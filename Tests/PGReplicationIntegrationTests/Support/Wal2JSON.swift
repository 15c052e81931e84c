import Foundation
import PGOutput
import PGReplication

/// One change in a form both sides can be brought to: action, table, and typed column values.
struct ComparableChange: Hashable, CustomStringConvertible {
    var action: Character
    var table: String
    /// New row for I/U; key (or full old row) for D; empty for T.
    var values: [String: PGValue]

    var description: String {
        "\(action) \(table) "
            + values.keys.sorted().map { "\($0)=\(values[$0]?.description ?? "?")" }.joined(separator: " ")
    }
}

struct ComparableTransaction: Hashable {
    var xid: UInt32
    var changes: [ComparableChange]
    /// The end of the commit record (what a consumer acknowledges); zero when unknown.
    var endLSN: LSN = 0
}

enum Wal2JSON {
    /// Reads a wal2json (format-version 2) slot to its end through SQL and groups the actions by
    /// transaction, leaving out transactions without changes.
    static func read(slot: String, tables: [String], dsn: String) throws -> [ComparableTransaction] {
        let connection = try PGConnection(dsn)
        defer { connection.close() }
        let filter = tables.map { "public.\($0)" }.joined(separator: ",")
        let result = try connection.execute(
            """
            SELECT data, lsn FROM pg_logical_slot_get_changes('\(slot)', NULL, NULL,
              'format-version', '2', 'include-xids', '1', 'include-type-oids', '1',
              'add-tables', '\(filter)')
            """)
        var transactions: [ComparableTransaction] = []
        var current: ComparableTransaction?
        for row in result.rows {
            // Not JSON throws below, with the other unreadable rows.
            guard let text = row.first ?? nil, case .object(let object)? = try? RawJSON.parse(text),
                case .string(let action)? = object["action"]
            else { throw TestSetupError("unreadable wal2json row") }
            switch action {
            case "B":
                var xid: UInt32 = 0
                if case .number(let text)? = object["xid"] { xid = UInt32(text) ?? 0 }
                current = ComparableTransaction(xid: xid, changes: [])
            case "C":
                // The commit row's position is the end of the commit record.
                if var done = current, !done.changes.isEmpty {
                    done.endLSN = try LSN(row.count > 1 ? row[1] ?? "" : "")
                    transactions.append(done)
                }
                current = nil
            case "I", "U", "D", "T":
                guard case .string(let table)? = object["table"] else { continue }
                var values: [String: PGValue] = [:]
                if case .array(let columns)? = action == "D" ? object["identity"] : object["columns"] {
                    for case .object(let column) in columns {
                        guard case .string(let name)? = column["name"], case .number(let oidText)? = column["typeoid"],
                            let oid = UInt32(oidText)
                        else { continue }
                        values[name] = try value(column["value"], typeOID: oid)
                    }
                }
                current?.changes.append(ComparableChange(action: Character(action), table: table, values: values))
            default:
                continue
            }
        }
        return transactions
    }

    /// A wal2json value read with our own text decoder (numbers kept as the server wrote them).
    static func value(_ json: RawJSON?, typeOID: UInt32) throws -> PGValue {
        switch json {
        case .bool(let flag)?: return .bool(flag)
        case .string(let text)?, .number(let text)?:
            return try PGValue(column: .text(Array(text.utf8)), typeOID: typeOID)
        default: return .null
        }
    }
}

extension ComparableTransaction {
    /// Our transaction in the same form: truncates split per table as wal2json writes them,
    /// deletes keyed by the columns the server sent.
    init(_ transaction: PGTransaction) {
        self.xid = transaction.xid
        self.endLSN = transaction.endLSN
        self.changes = transaction.changes.flatMap { change -> [ComparableChange] in
            switch change {
            case .insert(let table, let new):
                return [ComparableChange(action: "I", table: table.name, values: Self.values(new, skipNull: false))]
            case .update(let table, _, _, let new):
                return [ComparableChange(action: "U", table: table.name, values: Self.values(new, skipNull: false))]
            case .delete(let table, let old, let oldIsKey):
                var values = Self.values(old, skipNull: false)
                if oldIsKey { values = values.filter { key, _ in table.keyColumns.contains(key) } }
                return [ComparableChange(action: "D", table: table.name, values: values)]
            case .truncate(let tables, _, _):
                return tables.map { ComparableChange(action: "T", table: $0.name, values: [:]) }
            case .message:
                return []
            }
        }
    }

    static func values(_ row: PGRow, skipNull: Bool) -> [String: PGValue] {
        var values: [String: PGValue] = [:]
        for (index, name) in row.columnNames.enumerated() {
            guard let value = row[index] else { continue }
            if case .unchangedToast = value { continue }
            if skipNull, case .null = value { continue }
            values[name] = value
        }
        return values
    }
}

/// A JSON value that keeps numbers as their text (wal2json writes numeric values unquoted, and
/// `123.500` must stay `123.500`).
indirect enum RawJSON: Hashable {
    case object([String: RawJSON])
    case array([RawJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    static func parse(_ text: String) throws -> RawJSON {
        var parser = Parser(bytes: Array(text.utf8))
        return try parser.value()
    }

    struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
        }

        mutating func value() throws -> RawJSON {
            skipSpace()
            guard index < bytes.count else { throw TestSetupError("JSON ended early") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var object: [String: RawJSON] = [:]
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(object)
                }
                while true {
                    skipSpace()
                    guard case .string(let key) = try value() else { throw TestSetupError("JSON key expected") }
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                        throw TestSetupError("':' expected")
                    }
                    index += 1
                    object[key] = try value()
                    skipSpace()
                    guard index < bytes.count else { throw TestSetupError("JSON ended early") }
                    index += 1
                    if bytes[index - 1] == UInt8(ascii: "}") { return .object(object) }
                }
            case UInt8(ascii: "["):
                index += 1
                var array: [RawJSON] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(array)
                }
                while true {
                    array.append(try value())
                    skipSpace()
                    guard index < bytes.count else { throw TestSetupError("JSON ended early") }
                    index += 1
                    if bytes[index - 1] == UInt8(ascii: "]") { return .array(array) }
                }
            case UInt8(ascii: "\""):
                index += 1
                var out: [UInt8] = []
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count {
                        index += 1
                        switch bytes[index] {
                        case UInt8(ascii: "n"): out.append(0x0A)
                        case UInt8(ascii: "t"): out.append(0x09)
                        case UInt8(ascii: "r"): out.append(0x0D)
                        case UInt8(ascii: "b"): out.append(0x08)
                        case UInt8(ascii: "f"): out.append(0x0C)
                        case UInt8(ascii: "u"):
                            let hex = String(decoding: bytes[(index + 1)..<min(index + 5, bytes.count)], as: UTF8.self)
                            var scalar = UInt32(hex, radix: 16) ?? 0xFFFD
                            index += 4
                            if (0xD800..<0xDC00).contains(scalar), index + 6 < bytes.count,
                                bytes[index + 1] == UInt8(ascii: "\\")
                            {
                                let low =
                                    UInt32(String(decoding: bytes[(index + 3)..<(index + 7)], as: UTF8.self), radix: 16)
                                    ?? 0
                                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                                index += 6
                            }
                            out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar) ?? "?")).utf8))
                        default: out.append(bytes[index])
                        }
                    } else {
                        out.append(bytes[index])
                    }
                    index += 1
                }
                index += 1
                return .string(String(decoding: out, as: UTF8.self))
            case UInt8(ascii: "t"):
                index += 4
                return .bool(true)
            case UInt8(ascii: "f"):
                index += 5
                return .bool(false)
            case UInt8(ascii: "n"):
                index += 4
                return .null
            default:
                let start = index
                while index < bytes.count, !",}] \n".utf8.contains(bytes[index]) { index += 1 }
                return .number(String(decoding: bytes[start..<index], as: UTF8.self))
            }
        }
    }
}
