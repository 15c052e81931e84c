import PGOutput
import Testing

@Suite struct InetTests {
    @Test(arguments: [
        ("192.168.1.5/24", PGTypeOID.inet), ("192.168.1.5", .inet), ("::1", .inet), ("2001:db8::1/64", .inet),
        ("10.0.0.0/8", .cidr), ("2001:db8::/32", .cidr), ("::/0", .cidr), ("::ffff:1.2.3.4/128", .cidr),
        ("0.0.0.0/0", .inet), ("fe80::1:2:3:4", .inet), ("1:0:0:2::3", .inet), ("1::2:0:0:3", .inet),
    ])
    func textRoundTrips(text: String, type: PGTypeOID) throws {
        #expect(try decodeText(text, type).description == text)
    }

    @Test func binaryMatchesText() throws {
        let v4 = try decodeBinary([2, 24, 0, 4, 192, 168, 1, 5], .inet)
        #expect(try v4 == decodeText("192.168.1.5/24", .inet))
        let v6 = try decodeBinary([3, 128, 0, 16] + [UInt8](repeating: 0, count: 15) + [1], .inet)
        #expect(try v6 == decodeText("::1", .inet))
        let cidr = try decodeBinary([2, 8, 1, 4, 10, 0, 0, 0], .cidr)
        #expect(try cidr == decodeText("10.0.0.0/8", .cidr))
        guard case .inet(let inet) = v4 else { return }
        #expect(inet.family == .ipv4)
        #expect(inet.prefixLength == 24)
        #expect(inet.address == [192, 168, 1, 5])
    }

    @Test func malformedThrows() {
        #expect(throws: PGValueDecodingError.self) { try decodeText("256.0.0.1", .inet) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("1.2.3.4/33", .inet) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("1:2:3", .inet) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("1::2::3", .inet) }
        #expect(throws: PGValueDecodingError.self) { try decodeBinary([4, 24, 0, 4, 1, 2, 3, 4], .inet) }
        #expect(throws: PGValueDecodingError.self) { try decodeBinary([2, 33, 0, 4, 1, 2, 3, 4], .inet) }
        #expect(throws: PGValueDecodingError.self) { try decodeBinary([2, 24, 0, 16, 1, 2, 3, 4], .inet) }
    }
}
