import PGOutput
import Testing

@Suite struct LogicalMessageTests {
    @Test(arguments: [true, false])
    func decodesLogicalMessage(transactional: Bool) throws {
        let bytes = MessageBuilder("M").int8(transactional ? 1 : 0).lsn(Sample.lsn).string("app")
            .int32(3).raw([0, 0xFF, 0]).bytes
        let expected = PGOutputMessage.LogicalMessage(
            isTransactional: transactional, lsn: Sample.lsn, prefix: "app", content: [0, 0xFF, 0])
        #expect(expected.isTransactional == transactional)
        try expectRoundTrip(bytes, decodesTo: .message(expected))
    }

    @Test func contentLongerThanMessageThrowsTruncated() {
        let bytes = MessageBuilder("M").int8(1).lsn(Sample.lsn).string("app").int32(10).raw([1, 2]).bytes
        expectDecodingError(bytes, .truncated(expected: 10, actual: 2), offset: 18)
    }
}
