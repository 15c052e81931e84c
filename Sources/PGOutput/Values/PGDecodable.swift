#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A Swift type that can be made from a decoded ``PGValue``.
///
/// Conversions never trap: a value of the wrong kind, a number that does not fit (an `int8` of
/// 2^40 read as `Int32`), or a NULL read as a non-optional type throws
/// ``PGValueConversionError``. Integer types accept any PostgreSQL integer (and `oid`) that fits;
/// `Double` accepts `float4` too; `String` accepts the text types, `json`/`jsonb`, `"char"` and
/// values of unknown types such as enums.
///
/// ```swift
/// let qty = try Int(pgValue: row["qty"] ?? .null)
/// let note = try String?(pgValue: .null)   // nil
/// ```
public protocol PGDecodable {
    /// Converts a decoded value.
    ///
    /// - Throws: ``PGValueConversionError`` when the value is of another kind or does not fit.
    init(pgValue: PGValue) throws(PGValueConversionError)
}

extension PGValue {
    /// The value as a 64-bit integer when it is a PostgreSQL integer or `oid`.
    fileprivate var integerValue: Int64? {
        switch self {
        case .int16(let value): Int64(value)
        case .int32(let value): Int64(value)
        case .int64(let value): value
        case .oid(let value): Int64(value)
        default: nil
        }
    }
}

/// Shared by the integer conformances: any PostgreSQL integer that fits exactly.
private func convertInteger<T: FixedWidthInteger>(_ value: PGValue) throws(PGValueConversionError) -> T {
    guard let wide = value.integerValue else {
        throw value == .null
            ? PGValueConversionError(T.self, value, "NULL for a non-optional type")
            : PGValueConversionError(T.self, value)
    }
    guard let exact = T(exactly: wide) else { throw PGValueConversionError(T.self, value, "out of range") }
    return exact
}

/// Throws the right error for a value that is not convertible to `T`.
private func mismatch<T>(_ target: T.Type, _ value: PGValue) -> PGValueConversionError {
    switch value {
    case .null: PGValueConversionError(target, value, "NULL for a non-optional type")
    case .unchangedToast: PGValueConversionError(target, value, "the server did not send this unchanged TOASTed value")
    default: PGValueConversionError(target, value)
    }
}

/// The payload that `match` finds in `value`, or the mismatch error.
private func extract<T>(_ value: PGValue, _ match: (PGValue) -> T?) throws(PGValueConversionError) -> T {
    guard let result = match(value) else { throw mismatch(T.self, value) }
    return result
}

extension PGValue: PGDecodable {
    /// The value itself.
    public init(pgValue: PGValue) { self = pgValue }
}

extension Int: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) { self = try convertInteger(pgValue) }
}

extension Int16: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) { self = try convertInteger(pgValue) }
}

extension Int32: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) { self = try convertInteger(pgValue) }
}

extension Int64: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) { self = try convertInteger(pgValue) }
}

extension UInt32: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) { self = try convertInteger(pgValue) }
}

extension UInt8: PGDecodable {
    /// From `"char"` (its byte) or an integer from 0 to 255.
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        if case .char(let byte) = pgValue {
            self = byte
        } else {
            self = try convertInteger(pgValue)
        }
    }
}

extension Bool: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        self = try extract(pgValue) { if case .bool(let value) = $0 { value } else { nil } }
    }
}

extension Float: PGDecodable {
    /// From `float4`, or `float8` when the value is exactly representable (or NaN/infinite).
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        switch pgValue {
        case .float32(let value): self = value
        case .float64(let value):
            guard let exact = Float(exactly: value) ?? (value.isFinite ? nil : Float(value)) else {
                throw PGValueConversionError(Float.self, pgValue, "not exactly representable")
            }
            self = exact
        default: throw mismatch(Float.self, pgValue)
        }
    }
}

extension Double: PGDecodable {
    /// From `float8` or `float4`.
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        switch pgValue {
        case .float64(let value): self = value
        case .float32(let value): self = Double(value)
        default: throw mismatch(Double.self, pgValue)
        }
    }
}

extension String: PGDecodable {
    /// From the text types, `json`, `jsonb`, `"char"` (ASCII only) and unknown types whose bytes
    /// are UTF-8 (enum labels, in both formats).
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        switch pgValue {
        case .text(let value), .json(let value), .jsonb(let value): self = value
        case .char(let byte) where byte < 0x80: self = String(UnicodeScalar(byte))
        case .raw(let raw):
            guard let text = raw.string else { throw PGValueConversionError(String.self, pgValue, "not UTF-8") }
            self = text
        default: throw mismatch(String.self, pgValue)
        }
    }
}

extension UUID: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        self = try extract(pgValue) { if case .uuid(let value) = $0 { value } else { nil } }
    }
}

extension Date: PGDecodable {
    /// From `timestamptz`, `timestamp` (read as UTC) or `date` (midnight UTC). The infinities
    /// become `.distantFuture` and `.distantPast`.
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        switch pgValue {
        case .timestamptz(let value), .timestamp(let value): self = value.date
        case .date(let value): self = value.date
        default: throw mismatch(Date.self, pgValue)
        }
    }
}

extension PostgresTimestamp: PGDecodable {
    /// From `timestamptz` or `timestamp`.
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        switch pgValue {
        case .timestamptz(let value), .timestamp(let value): self = value
        default: throw mismatch(PostgresTimestamp.self, pgValue)
        }
    }
}

extension PGNumeric: PGDecodable {
    /// From `numeric` or any integer.
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        if case .numeric(let value) = pgValue {
            self = value
        } else if let integer = pgValue.integerValue {
            self = PGNumeric(integer)
        } else {
            throw mismatch(PGNumeric.self, pgValue)
        }
    }
}

extension Decimal: PGDecodable {
    /// From `numeric` when it fits `Decimal` exactly, or any integer. `NaN`, the infinities and
    /// numerics beyond 38 significant digits throw.
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        let numeric = try PGNumeric(pgValue: pgValue)
        guard let value = numeric.decimalValue else {
            throw PGValueConversionError(Decimal.self, pgValue, "not a finite value that Decimal holds exactly")
        }
        self = value
    }
}

extension PGDate: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        self = try extract(pgValue) { if case .date(let value) = $0 { value } else { nil } }
    }
}

extension PGTime: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        self = try extract(pgValue) { if case .time(let value) = $0 { value } else { nil } }
    }
}

extension PGTimeTZ: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        self = try extract(pgValue) { if case .timetz(let value) = $0 { value } else { nil } }
    }
}

extension PGInterval: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        self = try extract(pgValue) { if case .interval(let value) = $0 { value } else { nil } }
    }
}

extension PGInet: PGDecodable {
    /// From `inet` or `cidr`.
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        switch pgValue {
        case .inet(let value), .cidr(let value): self = value
        default: throw mismatch(PGInet.self, pgValue)
        }
    }
}

extension PGArray: PGDecodable {
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        self = try extract(pgValue) { if case .array(let value) = $0 { value } else { nil } }
    }
}

extension Optional: PGDecodable where Wrapped: PGDecodable {
    /// `nil` for NULL; an unchanged TOASTed value still throws, as its value is unknown.
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        self = pgValue == .null ? nil : try Wrapped(pgValue: pgValue)
    }
}

extension Array: PGDecodable where Element: PGDecodable {
    /// From an array: a one-dimensional (or empty) array gives its elements; a multi-dimensional
    /// one gives its slices along the first dimension, so `[[Int]]` reads `{{1,2},{3,4}}`.
    /// `[UInt8]` also reads `bytea`.
    public init(pgValue: PGValue) throws(PGValueConversionError) {
        if case .bytea(let bytes) = pgValue, let same = bytes as? [Element] {
            self = same
            return
        }
        guard case .array(let array) = pgValue else { throw mismatch([Element].self, pgValue) }
        var result: [Element] = []
        if let slices = array.slices {
            result.reserveCapacity(slices.count)
            for slice in slices { result.append(try Element(pgValue: .array(slice))) }
        } else {
            result.reserveCapacity(array.elements.count)
            for element in array.elements { result.append(try Element(pgValue: element)) }
        }
        self = result
    }
}
