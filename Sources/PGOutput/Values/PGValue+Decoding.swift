#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension PGValue {
    /// Decodes one pgoutput column value of the given type.
    ///
    /// Text values are parsed as the server prints them with its default settings (DateStyle ISO,
    /// IntervalStyle `postgres`, `bytea_output` hex); binary values are each type's send format.
    /// A type without a case of its own becomes ``raw(_:)`` holding the bytes, never an error.
    ///
    /// ```swift
    /// for (column, value) in zip(relation.columns, tuple.columns) {
    ///     let decoded = try PGValue(column: value, typeOID: column.typeOID, typeModifier: column.typeModifier)
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - column: The value as it came in the TupleData.
    ///   - typeOID: The column's type from the Relation message.
    ///   - typeModifier: The column's `atttypmod`; the decoding does not depend on it today.
    /// - Throws: ``PGValueDecodingError`` when the bytes are not a valid value of a known type.
    public init(column: TupleData.Column, typeOID: UInt32, typeModifier: Int32 = -1) throws(PGValueDecodingError) {
        switch column {
        case .null: self = .null
        case .unchangedToast: self = .unchangedToast
        case .text(let bytes): self = try PGValue.decode(bytes, type: PGTypeOID(typeOID), format: .text)
        case .binary(let bytes): self = try PGValue.decode(bytes, type: PGTypeOID(typeOID), format: .binary)
        }
    }

    /// Decodes a whole value held in an array.
    static func decode(
        _ bytes: [UInt8], type: PGTypeOID, format: PGValueFormat, base: Int = 0
    )
        throws(PGValueDecodingError) -> PGValue
    {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(PGValueDecodingError) in
                try PGValue.decode(buffer, type: type, format: format, base: base)
            }
        }
        return try result.get()
    }

    /// Decodes a value (or an array element, with `base` its offset in the column value).
    package static func decode(
        _ bytes: UnsafeRawBufferPointer, type: PGTypeOID, format: PGValueFormat, base: Int
    )
        throws(PGValueDecodingError) -> PGValue
    {
        var reader = ValueReader(bytes, type: type, format: format, base: base)
        return format == .text ? try decodeText(&reader) : try decodeBinary(&reader)
    }

    // MARK: - Text

    private static func decodeText(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGValue {
        switch reader.type {
        case .bool:
            if reader.isExactly("t") || reader.isExactly("true") { return .bool(true) }
            if reader.isExactly("f") || reader.isExactly("false") { return .bool(false) }
            throw reader.error("'t' or 'f'")
        case .int2: return .int16(try integer(&reader))
        case .int4: return .int32(try integer(&reader))
        case .int8: return .int64(try integer(&reader))
        case .oid: return .oid(try integer(&reader))
        case .float4: return .float32(try float(&reader, Float.init))
        case .float8: return .float64(try float(&reader, Double.init))
        case .numeric:
            let value = try PGNumeric.decodeText(&reader)
            return .numeric(value)
        case .text, .varchar, .bpchar, .name: return .text(try utf8(&reader))
        case .json: return .json(try utf8(&reader))
        case .jsonb: return .jsonb(try utf8(&reader))
        case .char: return .char(try charText(&reader))
        case .bytea: return .bytea(try byteaText(&reader))
        case .uuid: return .uuid(try uuidText(&reader))
        case .date: return .date(try PGDate.decodeText(&reader))
        case .time: return .time(try PGTime.decodeText(&reader))
        case .timetz: return .timetz(try PGTimeTZ.decodeText(&reader))
        case .timestamp: return .timestamp(try PostgresTimestamp.decodeText(&reader, withZone: false))
        case .timestamptz: return .timestamptz(try PostgresTimestamp.decodeText(&reader, withZone: true))
        case .interval: return .interval(try PGInterval.decodeText(&reader))
        case .inet: return .inet(try PGInet.decodeText(&reader, isCIDR: false))
        case .cidr: return .cidr(try PGInet.decodeText(&reader, isCIDR: true))
        default:
            if let element = reader.type.arrayElementType {
                return .array(try PGArray.decodeText(&reader, elementType: element))
            }
            return .raw(PGRawValue(type: reader.type, format: .text, bytes: reader.readRest().copiedBytes))
        }
    }

    private static func integer<T: FixedWidthInteger>(_ reader: inout ValueReader) throws(PGValueDecodingError) -> T {
        let value = try reader.readSignedInteger(as: T.self)
        try reader.expectEnd()
        return value
    }

    /// `NaN`, `Infinity`, `-Infinity`, or a decimal number with an optional exponent.
    private static func float<T: BinaryFloatingPoint>(
        _ reader: inout ValueReader, _ parse: (Substring) -> T?
    )
        throws(PGValueDecodingError) -> T
    {
        if reader.isExactly("NaN") { return .nan }
        if reader.isExactly("Infinity") { return .infinity }
        if reader.isExactly("-Infinity") { return -.infinity }
        for (index, byte) in reader.bytes.enumerated() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                UInt8(ascii: "e"), UInt8(ascii: "E"):
                continue
            default: throw reader.error("a decimal floating-point number", at: index)
            }
        }
        guard let value = parse(Substring(decoding: reader.bytes, as: UTF8.self)), value.isFinite else {
            throw reader.error("a decimal floating-point number", at: 0)
        }
        reader.offset = reader.bytes.count
        return value
    }

    private static func utf8(_ reader: inout ValueReader) throws(PGValueDecodingError) -> String {
        guard let text = reader.readRest().validatedUTF8String else {
            throw reader.error("valid UTF-8", at: 0)
        }
        return text
    }

    /// `"char"` prints a byte with the high bit set as `\ooo`, NUL as the empty string.
    private static func charText(_ reader: inout ValueReader) throws(PGValueDecodingError) -> UInt8 {
        let bytes = reader.bytes
        switch bytes.count {
        case 0: return 0
        case 1: return bytes[0]
        case 4 where bytes[0] == UInt8(ascii: "\\"):
            var value: UInt16 = 0
            for index in 1..<4 {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 8 else { throw reader.error("an octal digit", at: index) }
                value = value << 3 | UInt16(digit)
            }
            guard let byte = UInt8(exactly: value) else { throw reader.error("an octal escape up to \\377", at: 0) }
            return byte
        default: throw reader.error("one character or a \\ooo escape", at: 0)
        }
    }

    /// `\x` followed by hex pairs, or the legacy escape format (`\\` and `\ooo`).
    private static func byteaText(_ reader: inout ValueReader) throws(PGValueDecodingError) -> [UInt8] {
        var out: [UInt8] = []
        if reader.consume("\\x") {
            out.reserveCapacity(reader.remaining / 2)
            while !reader.isAtEnd {
                guard reader.remaining >= 2, let high = hexDigitValue(reader.bytes[reader.offset]),
                    let low = hexDigitValue(reader.bytes[reader.offset + 1])
                else { throw reader.error("a pair of hexadecimal digits") }
                out.append(high << 4 | low)
                reader.offset += 2
            }
            return out
        }
        while let byte = reader.peek() {
            reader.offset += 1
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            if reader.consume(UInt8(ascii: "\\")) {
                out.append(byte)
                continue
            }
            var value: UInt16 = 0
            for _ in 0..<3 {
                guard let digit = reader.peek(), digit &- UInt8(ascii: "0") < 8 else {
                    throw reader.error("'\\\\' or a \\ooo octal escape")
                }
                value = value << 3 | UInt16(digit &- UInt8(ascii: "0"))
                reader.offset += 1
            }
            guard let decoded = UInt8(exactly: value) else { throw reader.error("an octal escape up to \\377") }
            out.append(decoded)
        }
        return out
    }

    /// 32 hex digits, optionally with dashes between groups (`a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`).
    private static func uuidText(_ reader: inout ValueReader) throws(PGValueDecodingError) -> UUID {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<16 {
            if index == 4 || index == 6 || index == 8 || index == 10 { _ = reader.consume(UInt8(ascii: "-")) }
            guard reader.remaining >= 2, let high = hexDigitValue(reader.bytes[reader.offset]),
                let low = hexDigitValue(reader.bytes[reader.offset + 1])
            else { throw reader.error("a pair of hexadecimal digits") }
            bytes[index] = high << 4 | low
            reader.offset += 2
        }
        try reader.expectEnd()
        return uuid(bytes)
    }

    private static func uuid(_ b: [UInt8]) -> UUID {
        UUID(
            uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
        )
    }

    // MARK: - Binary

    private static func decodeBinary(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGValue {
        switch reader.type {
        case .bool:
            let byte = try fixed(&reader, as: UInt8.self)
            guard byte <= 1 else { throw reader.error("0 or 1", at: 0) }
            return .bool(byte == 1)
        case .int2: return .int16(try fixed(&reader))
        case .int4: return .int32(try fixed(&reader))
        case .int8: return .int64(try fixed(&reader))
        case .oid: return .oid(try fixed(&reader))
        case .float4: return .float32(Float(bitPattern: try fixed(&reader)))
        case .float8: return .float64(Double(bitPattern: try fixed(&reader)))
        case .numeric:
            let value = try PGNumeric.decodeBinary(&reader)
            return .numeric(value)
        case .text, .varchar, .bpchar, .name: return .text(try utf8(&reader))
        case .json: return .json(try utf8(&reader))
        case .jsonb:
            let version = try reader.readInteger(as: UInt8.self)
            guard version == 1 else { throw reader.error("jsonb format version 1", at: 0) }
            return .jsonb(try utf8Rest(&reader))
        case .char: return .char(try fixed(&reader))
        case .bytea: return .bytea(reader.readRest().copiedBytes)
        case .uuid:
            guard reader.bytes.count == 16 else { throw reader.error("16 bytes, found \(reader.bytes.count)", at: 0) }
            return .uuid(uuid(reader.readRest().copiedBytes))
        case .date: return .date(try PGDate.decodeBinary(&reader))
        case .time: return .time(try PGTime.decodeBinary(&reader))
        case .timetz: return .timetz(try PGTimeTZ.decodeBinary(&reader))
        case .timestamp: return .timestamp(try PostgresTimestamp.decodeBinary(&reader))
        case .timestamptz: return .timestamptz(try PostgresTimestamp.decodeBinary(&reader))
        case .interval: return .interval(try PGInterval.decodeBinary(&reader))
        case .inet: return .inet(try PGInet.decodeBinary(&reader))
        case .cidr: return .cidr(try PGInet.decodeBinary(&reader))
        default:
            if reader.type.arrayElementType != nil { return .array(try PGArray.decodeBinary(&reader)) }
            return .raw(PGRawValue(type: reader.type, format: .binary, bytes: reader.readRest().copiedBytes))
        }
    }

    /// A big-endian integer that must be the whole value.
    private static func fixed<T: FixedWidthInteger & BitwiseCopyable>(
        _ reader: inout ValueReader, as _: T.Type = T.self
    )
        throws(PGValueDecodingError) -> T
    {
        guard reader.bytes.count == MemoryLayout<T>.size else {
            throw reader.error("exactly \(MemoryLayout<T>.size) bytes, found \(reader.bytes.count)", at: 0)
        }
        return try reader.readInteger(as: T.self)
    }

    private static func utf8Rest(_ reader: inout ValueReader) throws(PGValueDecodingError) -> String {
        let start = reader.offset
        guard let text = reader.readRest().validatedUTF8String else {
            throw reader.error("valid UTF-8", at: start)
        }
        return text
    }
}
