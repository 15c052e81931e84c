#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A decoded PostgreSQL column value.
///
/// Make one from a pgoutput column with ``init(column:typeOID:typeModifier:)``; text and binary
/// encodings of the same value decode to equal `PGValue`s. Types without a case here (enums,
/// domains, geometric types, ranges, …) become ``raw(_:)`` rather than an error.
///
/// ```swift
/// let value = try PGValue(column: .text(Array("42".utf8)), typeOID: PGTypeOID.int4.rawValue)
/// // value == .int32(42)
/// let qty = try Int(pgValue: value)
/// ```
///
/// Equality is exact identity of the decoded value: floating-point values compare by bit pattern
/// after folding every NaN into one, so `NaN == NaN` and `0.0 != -0.0`; numerics compare by their
/// text (`1.5 != 1.50`); `timetz` values compare time and offset separately.
public enum PGValue: Sendable, CustomStringConvertible {
    /// SQL NULL.
    case null
    /// An unchanged TOASTed value that the server did not send (`u` in TupleData).
    case unchangedToast
    /// `bool`.
    case bool(Bool)
    /// `int2` (`smallint`).
    case int16(Int16)
    /// `int4` (`integer`).
    case int32(Int32)
    /// `int8` (`bigint`).
    case int64(Int64)
    /// `oid`.
    case oid(UInt32)
    /// `float4` (`real`).
    case float32(Float)
    /// `float8` (`double precision`).
    case float64(Double)
    /// `numeric`, exactly.
    case numeric(PGNumeric)
    /// `text`, `varchar`, `bpchar` (with its padding) and `name`.
    case text(String)
    /// The one-byte internal type `"char"`.
    case char(UInt8)
    /// `bytea`.
    case bytea([UInt8])
    /// `uuid`.
    case uuid(UUID)
    /// `date`.
    case date(PGDate)
    /// `time` (without time zone).
    case time(PGTime)
    /// `timetz`.
    case timetz(PGTimeTZ)
    /// `timestamp` (without time zone): microseconds since 2000-01-01 00:00:00 wall-clock time.
    case timestamp(PostgresTimestamp)
    /// `timestamptz`: microseconds since 2000-01-01 00:00:00 UTC.
    case timestamptz(PostgresTimestamp)
    /// `interval`.
    case interval(PGInterval)
    /// `json`, as its text.
    case json(String)
    /// `jsonb`, as its text (the server's normalized form).
    case jsonb(String)
    /// `inet`.
    case inet(PGInet)
    /// `cidr`.
    case cidr(PGInet)
    /// An array of one of the types above.
    case array(PGArray)
    /// A value of a type this module does not decode (an enum, a domain, a range, …), as it came.
    case raw(PGRawValue)

    /// The value in PostgreSQL's text form where this module can render it exactly (integers,
    /// numerics, text, dates, times, intervals, inet, arrays of those); floating-point values use
    /// Swift's shortest round-trip digits, timestamptz is shown in UTC (`+00`).
    public var description: String {
        switch self {
        case .null: "NULL"
        case .unchangedToast: "(unchanged TOAST value)"
        case .bool(let value): value ? "t" : "f"
        case .int16(let value): String(value)
        case .int32(let value): String(value)
        case .int64(let value): String(value)
        case .oid(let value): String(value)
        case .float32(let value): PGValue.renderFloat(Double(value), isNaN: value.isNaN, shortest: value.description)
        case .float64(let value): PGValue.renderFloat(value, isNaN: value.isNaN, shortest: value.description)
        case .numeric(let value): value.description
        case .text(let value), .json(let value), .jsonb(let value): value
        case .char(let value): value < 0x80 ? String(UnicodeScalar(value)) : "\\" + String(value, radix: 8)
        case .bytea(let value): "\\x" + value.lowercaseHex
        case .uuid(let value): value.uuidString.lowercased()
        case .date(let value): value.description
        case .time(let value): value.description
        case .timetz(let value): value.description
        case .timestamp(let value): value.postgresText(utc: false)
        case .timestamptz(let value): value.postgresText(utc: true)
        case .interval(let value): value.description
        case .inet(let value), .cidr(let value): value.description
        case .array(let value): value.description
        case .raw(let value): value.description
        }
    }

    private static func renderFloat(_ value: Double, isNaN: Bool, shortest: String) -> String {
        if isNaN { return "NaN" }
        if value == .infinity { return "Infinity" }
        if value == -.infinity { return "-Infinity" }
        return shortest.hasSuffix(".0") ? String(shortest.dropLast(2)) : shortest
    }
}

/// A value of a type without a ``PGValue`` case, kept as it arrived.
public struct PGRawValue: Hashable, Sendable, CustomStringConvertible {
    /// The column's type OID.
    public var type: PGTypeOID
    /// Text or binary.
    public var format: PGValueFormat
    /// The bytes exactly as the server sent them.
    public var bytes: [UInt8]

    public init(type: PGTypeOID, format: PGValueFormat, bytes: [UInt8]) {
        self.type = type
        self.format = format
        self.bytes = bytes
    }

    /// The bytes as UTF-8 text when they are valid UTF-8 (always for the text format; for the
    /// binary format of an enum this is its label), else `nil`.
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    /// The text, or `\x` and hex for bytes that are not UTF-8.
    public var description: String { string ?? "\\x" + bytes.lowercaseHex }
}

// MARK: - Equatable, Hashable

extension PGValue: Hashable {
    public static func == (lhs: PGValue, rhs: PGValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null), (.unchangedToast, .unchangedToast): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int16(let a), .int16(let b)): a == b
        case (.int32(let a), .int32(let b)): a == b
        case (.int64(let a), .int64(let b)): a == b
        case (.oid(let a), .oid(let b)): a == b
        case (.float32(let a), .float32(let b)): canonicalBits(Double(a)) == canonicalBits(Double(b))
        case (.float64(let a), .float64(let b)): canonicalBits(a) == canonicalBits(b)
        case (.numeric(let a), .numeric(let b)): a == b
        case (.text(let a), .text(let b)), (.json(let a), .json(let b)), (.jsonb(let a), .jsonb(let b)): a == b
        case (.char(let a), .char(let b)): a == b
        case (.bytea(let a), .bytea(let b)): a == b
        case (.uuid(let a), .uuid(let b)): a == b
        case (.date(let a), .date(let b)): a == b
        case (.time(let a), .time(let b)): a == b
        case (.timetz(let a), .timetz(let b)): a == b
        case (.timestamp(let a), .timestamp(let b)), (.timestamptz(let a), .timestamptz(let b)): a == b
        case (.interval(let a), .interval(let b)): a == b
        case (.inet(let a), .inet(let b)), (.cidr(let a), .cidr(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.raw(let a), .raw(let b)): a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .unchangedToast: hasher.combine(1)
        case .bool(let value): hasher.combine(value)
        case .int16(let value): hasher.combine(value)
        case .int32(let value): hasher.combine(value)
        case .int64(let value): hasher.combine(value)
        case .oid(let value): hasher.combine(value)
        case .float32(let value): hasher.combine(PGValue.canonicalBits(Double(value)))
        case .float64(let value): hasher.combine(PGValue.canonicalBits(value))
        case .numeric(let value): hasher.combine(value)
        case .text(let value), .json(let value), .jsonb(let value): hasher.combine(value)
        case .char(let value): hasher.combine(value)
        case .bytea(let value): hasher.combine(value)
        case .uuid(let value): hasher.combine(value)
        case .date(let value): hasher.combine(value)
        case .time(let value): hasher.combine(value)
        case .timetz(let value): hasher.combine(value)
        case .timestamp(let value), .timestamptz(let value): hasher.combine(value)
        case .interval(let value): hasher.combine(value)
        case .inet(let value), .cidr(let value): hasher.combine(value)
        case .array(let value): hasher.combine(value)
        case .raw(let value): hasher.combine(value)
        }
    }

    /// The bit pattern, with every NaN folded into one.
    private static func canonicalBits(_ value: Double) -> UInt64 {
        value.isNaN ? Double.nan.bitPattern : value.bitPattern
    }
}
