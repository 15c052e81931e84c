/// A PostgreSQL write-ahead-log position (`XLogRecPtr`, `pg_lsn`).
///
/// An LSN is an unsigned 64-bit byte position in the WAL. PostgreSQL writes it as two
/// hexadecimal 32-bit halves separated by a slash, `X/Y`, where `Y` is the **low** 32 bits on its
/// own: `2/3F42B70` is `0x2_03F4_2B70`, not `0x23F42B70`.
///
/// ```swift
/// let lsn = try LSN("16/B374D848")
/// print(lsn)                 // 16/B374D848
/// let same: LSN = 0x16_B374_D848
/// ```
///
/// The text form printed by ``description`` is the server's (`%X/%X` in PostgreSQL 15 to 18):
/// upper-case hex, neither half padded (`0/1D767E8`), so it compares equal to
/// `pg_current_wal_lsn()::text`. The parser is strict: each half is one to eight hex digits,
/// nothing else (no `0x`, no spaces); it accepts psycopg2's zero-padded form (`0/01D767E8`) too.
public struct LSN: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    /// The 64-bit position.
    public var rawValue: UInt64

    /// `0/0`: "no position" on the wire (`InvalidXLogRecPtr`); as a START position it means
    /// "where the slot is".
    public static let zero = LSN(rawValue: 0)

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    /// Parses PostgreSQL's `X/Y` form strictly.
    ///
    /// - Throws: ``LSN/ParseError`` naming the input and what was wrong with it.
    public init(_ text: some StringProtocol) throws(LSN.ParseError) {
        let utf8 = Array(text.utf8)
        guard let slash = utf8.firstIndex(of: UInt8(ascii: "/")) else {
            throw ParseError(input: String(text), reason: "expected two hexadecimal halves separated by '/'")
        }
        let high = try LSN.parseHalf(utf8[..<slash], input: text, which: "high")
        let low = try LSN.parseHalf(utf8[(slash + 1)...], input: text, which: "low")
        self.rawValue = UInt64(high) << 32 | UInt64(low)
    }

    private static func parseHalf(
        _ digits: ArraySlice<UInt8>, input: some StringProtocol, which: String
    )
        throws(LSN.ParseError) -> UInt32
    {
        guard !digits.isEmpty, digits.count <= 8 else {
            throw ParseError(input: String(input), reason: "the \(which) half must have 1 to 8 hexadecimal digits")
        }
        var value: UInt32 = 0
        for byte in digits {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
            default:
                throw ParseError(
                    input: String(input), reason: "the \(which) half has a character that is not a hexadecimal digit")
            }
            value = value << 4 | UInt32(nibble)
        }
        return value
    }

    /// The high 32 bits (the part before the slash).
    public var high: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }
    /// The low 32 bits (the part after the slash).
    public var low: UInt32 { UInt32(truncatingIfNeeded: rawValue) }

    /// `X/Y` as the server prints it: upper-case hex, neither half padded.
    public var description: String {
        String(high, radix: 16, uppercase: true) + "/" + String(low, radix: 16, uppercase: true)
    }

    public static func < (lhs: LSN, rhs: LSN) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The LSN `bytes` further on, clamped at the largest LSN.
    public func advanced(by bytes: UInt64) -> LSN {
        let (sum, overflow) = rawValue.addingReportingOverflow(bytes)
        return LSN(rawValue: overflow ? .max : sum)
    }

    /// Bytes from `other` up to `self`; zero when `other` is ahead.
    public func distance(from other: LSN) -> UInt64 {
        rawValue >= other.rawValue ? rawValue - other.rawValue : 0
    }

    /// Why a string is not an LSN.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The text that was given.
        public var input: String
        /// What was wrong with it.
        public var reason: String
        public var description: String { "invalid LSN \"\(input)\": \(reason)" }
    }
}

extension LSN: Codable {
    /// Decodes from the `X/Y` string form or from an unsigned integer.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(UInt64.self) {
            self.rawValue = value
        } else {
            self = try LSN(container.decode(String.self))
        }
    }

    /// Encodes as the `X/Y` string form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
