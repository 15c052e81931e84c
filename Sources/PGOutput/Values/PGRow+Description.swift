extension PGRow: CustomStringConvertible, CustomDebugStringConvertible {
    /// The row on one line: `name=value …`, as `pgrepl stream --format text` writes it. A value
    /// that reads unambiguously stands as it is; others are in single quotes, control characters escaped; NULL is
    /// `NULL` and an unchanged TOASTed value `(unchanged)`.
    public var description: String {
        var out: [UInt8] = []
        appendFields(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Each column with its type and its value's full form.
    public var debugDescription: String {
        let fields = zip(columns, values).map { column, value in
            "\(column.name) \(PGTypeOID(column.typeOID))\(column.isKey ? " key" : ""): \(String(reflecting: value))"
        }
        return "PGRow(\(fields.joined(separator: ", ")))"
    }

    /// Appends ``description`` (only the key columns with `keysOnly`) as UTF-8: a large value is
    /// copied once, into `out`.
    package func appendFields(keysOnly: Bool = false, to out: inout [UInt8]) {
        var first = true
        for (column, value) in zip(columns, values) where !keysOnly || column.isKey {
            if !first { out.append(0x20) }
            first = false
            out.append(contentsOf: column.name.utf8)
            switch value {
            case .null: out.append(contentsOf: "=NULL".utf8)
            case .unchangedToast: out.append(contentsOf: "=(unchanged)".utf8)
            default:
                out.append(0x3D)
                let text = Self.quoted(value.description)
                if text.utf8.count > 1 << 16 { out.reserve(forAppending: text.utf8.count + 1024) }
                out.append(contentsOf: text.utf8)
            }
        }
    }

    /// The text as it is when it reads unambiguously, else in single quotes with quotes and
    /// backslashes doubled, newlines, carriage returns and tabs written `\n`, `\r`, `\t`, and every
    /// other control character (C0, DEL, C1, the Unicode line and paragraph separators) as
    /// `\u{…}`: a value can neither break the line nor send a terminal escape sequence.
    package static func quoted(_ text: String) -> String {
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
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }
}
