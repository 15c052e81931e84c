import PGOutput
import Testing

@Suite struct TruncateTests {
    @Test func decodesTruncateWithOptions() throws {
        let bytes = MessageBuilder("T").int32(2).int8(3).uint32(16_384).uint32(16_390).bytes
        try expectRoundTrip(
            bytes,
            decodesTo: .truncate(
                .init(
                    options: [.cascade, .restartIdentity], relationOIDs: [16_384, 16_390])))
    }

    @Test func negativeRelationCountThrows() {
        let bytes = MessageBuilder("T").int32(-2).int8(0).bytes
        expectDecodingError(bytes, .invalidCount(-2), offset: 1)
    }

    @Test func hugeRelationCountThrowsTruncatedWithoutAllocating() {
        let bytes = MessageBuilder("T").int32(.max).int8(0).uint32(1).bytes
        expectDecodingError(bytes, .truncated(expected: 4, actual: 0), offset: 10)
    }
}
