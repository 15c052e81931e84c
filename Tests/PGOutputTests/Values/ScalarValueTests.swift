import Foundation
import PGOutput
import Testing

@Suite struct ScalarValueTests {
    @Test func boolsInBothFormats() throws {
        #expect(try decodeText("t", .bool) == .bool(true))
        #expect(try decodeText("f", .bool) == .bool(false))
        #expect(try decodeBinary([1], .bool) == .bool(true))
        #expect(try decodeBinary([0], .bool) == .bool(false))
        #expect(throws: PGValueDecodingError.self) { try decodeText("yes", .bool) }
        #expect(throws: PGValueDecodingError.self) { try decodeBinary([2], .bool) }
        #expect(throws: PGValueDecodingError.self) { try decodeBinary([], .bool) }
    }

    @Test func integersAtTheirLimits() throws {
        #expect(try decodeText("-32768", .int2) == .int16(.min))
        #expect(try decodeText("2147483647", .int4) == .int32(.max))
        #expect(try decodeText("-9223372036854775808", .int8) == .int64(.min))
        #expect(try decodeText("4294967295", .oid) == .oid(.max))
        #expect(try decodeBinary(be(Int16(-2)), .int2) == .int16(-2))
        #expect(try decodeBinary(be(Int32.min), .int4) == .int32(.min))
        #expect(try decodeBinary(be(Int64.max), .int8) == .int64(.max))
        #expect(try decodeBinary(be(UInt32(4_000_000_000)), .oid) == .oid(4_000_000_000))
    }

    @Test func malformedIntegersThrowWithTypeFormatAndOffset() throws {
        let error = try #require(throws: PGValueDecodingError.self) { try decodeText("12x", .int4) }
        #expect(error.type == .int4)
        #expect(error.format == .text)
        #expect(error.offset == 2)
        #expect(error.description.contains("int4"))
        #expect(throws: PGValueDecodingError.self) { try decodeText("32768", .int2) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("9223372036854775808", .int8) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("-1", .oid) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("", .int4) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("-", .int4) }
        let binary = try #require(throws: PGValueDecodingError.self) { try decodeBinary([0, 0, 1], .int4) }
        #expect(binary.format == .binary)
    }

    @Test func floatsIncludingNaNAndInfinities() throws {
        #expect(try decodeText("NaN", .float8) == .float64(.nan))
        #expect(try decodeText("Infinity", .float4) == .float32(.infinity))
        #expect(try decodeText("-Infinity", .float8) == .float64(-.infinity))
        #expect(try decodeText("1e+300", .float8) == .float64(1e300))
        #expect(try decodeText("1.5e-07", .float4) == .float32(1.5e-7))
        #expect(try decodeText("-0", .float8) == .float64(-0.0))
        #expect(try decodeText("-0", .float8) != .float64(0.0))
        #expect(try decodeBinary(be(Double.nan.bitPattern), .float8) == .float64(.nan))
        #expect(try decodeBinary(be(Float(3.25).bitPattern), .float4) == .float32(3.25))
        #expect(try decodeBinary(be((-Double.infinity).bitPattern), .float8) == .float64(-.infinity))
        #expect(throws: PGValueDecodingError.self) { try decodeText("inf", .float8) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("0x1p3", .float8) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("1e999", .float8) }
    }

    @Test func textTypesKeepNonASCIIAndPadding() throws {
        let text = "héllo wörld ✓ 日本語 \"q\" \\ \t\n"
        for type in [PGTypeOID.text, .varchar, .name] {
            #expect(try decodeText(text, type) == .text(text))
            #expect(try decodeBinary(Array(text.utf8), type) == .text(text))
        }
        #expect(try decodeText("ab   ", .bpchar) == .text("ab   "))
        #expect(try decodeText("", .text) == .text(""))
        #expect(throws: PGValueDecodingError.self) { try decodeBinary([0xC3], .text) }
    }

    @Test func charIsOneByteWithOctalEscapes() throws {
        #expect(try decodeText("x", .char) == .char(UInt8(ascii: "x")))
        #expect(try decodeText("\\303", .char) == .char(0xC3))
        #expect(try decodeText("", .char) == .char(0))
        #expect(try decodeBinary([0xC3], .char) == .char(0xC3))
        #expect(PGValue.char(0xC3).description == "\\303")
        #expect(throws: PGValueDecodingError.self) { try decodeText("\\999", .char) }
    }

    @Test func byteaHexAndEscapeFormats() throws {
        #expect(try decodeText("\\xdeadBEEF", .bytea) == .bytea([0xDE, 0xAD, 0xBE, 0xEF]))
        #expect(try decodeText("\\x", .bytea) == .bytea([]))
        #expect(try decodeText("a\\\\b\\000", .bytea) == .bytea([0x61, 0x5C, 0x62, 0]))
        #expect(try decodeBinary([0, 255], .bytea) == .bytea([0, 255]))
        #expect(PGValue.bytea([0, 255]).description == "\\x00ff")
        #expect(throws: PGValueDecodingError.self) { try decodeText("\\x0", .bytea) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("\\xzz", .bytea) }
    }

    @Test func uuidsInBothFormats() throws {
        let uuid = try #require(UUID(uuidString: "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"))
        #expect(try decodeText("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", .uuid) == .uuid(uuid))
        #expect(try decodeText("a0eebc999c0b4ef8bb6d6bb9bd380a11", .uuid) == .uuid(uuid))
        let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
        #expect(try decodeBinary(bytes, .uuid) == .uuid(uuid))
        #expect(throws: PGValueDecodingError.self) { try decodeBinary(Array(bytes.dropLast()), .uuid) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("a0eebc99-9c0b", .uuid) }
    }

    @Test func jsonAndJsonbWithVersionByte() throws {
        #expect(try decodeText("{\"a\": 1}", .json) == .json("{\"a\": 1}"))
        #expect(try decodeText("{\"a\": 1}", .jsonb) == .jsonb("{\"a\": 1}"))
        #expect(try decodeBinary([1] + Array("[1]".utf8), .jsonb) == .jsonb("[1]"))
        #expect(try decodeBinary(Array("[1]".utf8), .json) == .json("[1]"))
        #expect(throws: PGValueDecodingError.self) { try decodeBinary([2] + Array("[1]".utf8), .jsonb) }
        #expect(throws: PGValueDecodingError.self) { try decodeBinary([], .jsonb) }
    }

    @Test func unknownTypesAreRawNeverErrors() throws {
        let text = try decodeText("happy", PGTypeOID(99_999))
        #expect(text == .raw(PGRawValue(type: 99_999, format: .text, bytes: Array("happy".utf8))))
        #expect(try String(pgValue: text) == "happy")
        let binary = try decodeBinary([0xFF, 0x00], PGTypeOID(99_999))
        #expect(binary == .raw(PGRawValue(type: 99_999, format: .binary, bytes: [0xFF, 0x00])))
        #expect(throws: PGValueConversionError.self) { try String(pgValue: binary) }
    }

    @Test func nullAndUnchangedToastPassThrough() throws {
        #expect(try PGValue(column: .null, typeOID: PGTypeOID.int4.rawValue) == .null)
        #expect(try PGValue(column: .unchangedToast, typeOID: PGTypeOID.text.rawValue) == .unchangedToast)
    }

    @Test func typeOIDsNameThemselves() {
        #expect(PGTypeOID.int4.description == "int4")
        #expect(PGTypeOID.int4Array.description == "_int4")
        #expect(PGTypeOID.int4Array.arrayElementType == .int4)
        #expect(PGTypeOID.jsonbArray.arrayElementType == .jsonb)
        #expect(PGTypeOID(12345).arrayElementType == nil)
    }
}
