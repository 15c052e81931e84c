// libFuzzer harness for the typed-value parsers (`PGValue(column:typeOID:)`, text and binary).
// Not a package target: Fuzz/run.sh compiles it against the PGOutput module.
//
// Input layout: byte 0 bit 0 = binary format (else text); bytes 1-4 = the type OID, big-endian
// (the seeds hold every OID PGTypeOID names, scalar and array); the rest is the column value.
// Properties checked: decoding never traps; every accessor a consumer uses on a decoded value
// (description, conversions to Swift types, Decimal/Double/Date views, array slices) never traps;
// a value decoded from text prints as text that decodes to an equal value.

import Foundation
import PGOutput

@_cdecl("LLVMFuzzerTestOneInput")
public func pgValueFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 5 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let binary = input[0] & 1 == 1
    let oid = input[1...4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    let bytes = Array(input[5...])
    let value: PGValue
    do {
        value = try PGValue(column: binary ? .binary(bytes) : .text(bytes), typeOID: oid)
    } catch {
        _ = error.description
        return 0
    }
    exercise(value)
    if !binary, value.printsAsInput {
        let printed = value.description
        guard let again = try? PGValue(column: .text(Array(printed.utf8)), typeOID: oid) else {
            fatalError("type \(oid): \(printed.debugDescription) (printed from \(bytes)) does not decode")
        }
        guard again == value else {
            fatalError("type \(oid): \(printed.debugDescription) decodes to \(again), not \(value)")
        }
    }
    return 0
}

extension PGValue {
    /// Whether `description` is the server's text form of the value (not the case for raw
    /// values, which print as hex when they are not UTF-8, or for NaN, which is unequal to itself).
    fileprivate var printsAsInput: Bool {
        switch self {
        case .raw, .null, .unchangedToast: return false
        case .float32(let value): return !value.isNaN
        case .float64(let value): return !value.isNaN
        case .array(let array): return array.elements.allSatisfy { $0 == .null || $0.printsAsInput }
        default: return true
        }
    }
}

private func exercise(_ value: PGValue) {
    _ = value.description
    _ = value.hashValue
    // The conversions a consumer would ask for on this kind of value (a failed conversion
    // renders the value into its message, so asking for all of them on every value is slow).
    switch value {
    case .int16, .int32, .int64, .oid:
        _ = try? Int(pgValue: value)
        _ = try? Int16(pgValue: value)
        _ = try? Int32(pgValue: value)
        _ = try? Int64(pgValue: value)
        _ = try? UInt32(pgValue: value)
        _ = try? UInt8(pgValue: value)
        _ = try? Double(pgValue: value)
        _ = try? Float(pgValue: value)
        _ = try? Decimal(pgValue: value)
    case .float32, .float64:
        _ = try? Float(pgValue: value)
        _ = try? Double(pgValue: value)
        _ = try? Int(pgValue: value)
    case .numeric(let numeric):
        _ = numeric.decimalValue
        _ = numeric.doubleValue
        _ = try? Int(pgValue: value)
        _ = try? Int64(pgValue: value)
        _ = try? Double(pgValue: value)
        _ = try? Decimal(pgValue: value)
    case .bool: _ = try? Bool(pgValue: value)
    case .text, .json, .jsonb, .char:
        _ = try? String(pgValue: value)
        _ = try? UInt8(pgValue: value)
    case .uuid: _ = try? UUID(pgValue: value)
    case .date(let date):
        _ = date.components
        _ = date.date
        _ = try? Date(pgValue: value)
    case .timestamp(let timestamp), .timestamptz(let timestamp):
        _ = timestamp.date
        _ = try? Date(pgValue: value)
        _ = try? PostgresTimestamp(pgValue: value)
    case .time: _ = try? PGTime(pgValue: value)
    case .timetz: _ = try? PGTimeTZ(pgValue: value)
    case .interval: _ = try? PGInterval(pgValue: value)
    case .inet, .cidr: _ = try? PGInet(pgValue: value)
    case .array(let array):
        _ = array.slices
        _ = try? [Int](pgValue: value)
        _ = try? [String?](pgValue: value)
        array.elements.forEach(exercise)
    case .bytea, .raw, .null, .unchangedToast:
        _ = try? String(pgValue: value)
    }
}
