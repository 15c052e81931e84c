import PGOutput
import Testing

@Suite struct TruncateTests {
    @Test func decodesTruncateWithOptions() throws {
        let bytes = MessageBuilder("T").int32(2).int8(3).uint32(16_384).uint32(16_390).bytes
        try expectRoundTrip(bytes, decodesTo: .truncate(.init(
            options: [.cascade, .restartIdentity], relationOIDs: [16_384, 16_390])))
    }

    @Test func negativeRelationCountThrows() {
        let bytes = MessageBuilder("T").int32(-2).int8(0).bytes
        var decoder = PGOutputDecoder()
        #expect(throws: PGOutputDecodingError(kind: .invalidCount(-2), messageType: UInt8(ascii: "T"), offset: 1)) {
            try decoder.decode(bytes)
        }
    }

    @Test func hugeRelationCountThrowsTruncatedWithoutAllocating() {
        let bytes = MessageBuilder("T").int32(.max).int8(0).uint32(1).bytes
        var decoder = PGOutputDecoder()
        #expect(throws: PGOutputDecodingError(
            kind: .truncated(expected: 4, actual: 0), messageType: UInt8(ascii: "T"), offset: 10)) {
            try decoder.decode(bytes)
        }
    }
}
