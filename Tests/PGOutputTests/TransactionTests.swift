import PGOutput
import Testing

@Suite struct TransactionTests {
    @Test func decodesBegin() throws {
        let bytes = MessageBuilder("B").lsn(Sample.lsn).time(Sample.time).uint32(Sample.xid).bytes
        try expectRoundTrip(
            bytes, decodesTo: .begin(.init(finalLSN: Sample.lsn, commitTime: Sample.time, xid: Sample.xid)))
    }

    @Test func decodesCommit() throws {
        let bytes = MessageBuilder("C").int8(0).lsn(Sample.lsn).lsn(Sample.lsn2).time(Sample.time).bytes
        try expectRoundTrip(
            bytes, decodesTo: .commit(.init(commitLSN: Sample.lsn, endLSN: Sample.lsn2, commitTime: Sample.time)))
    }

    @Test func decodesOrigin() throws {
        let bytes = MessageBuilder("O").lsn(Sample.lsn).string("upstream").bytes
        try expectRoundTrip(bytes, decodesTo: .origin(.init(commitLSN: Sample.lsn, name: "upstream")))
    }

    @Test func truncatedBeginThrowsWithOffsetOfTheMissingField() {
        let bytes = MessageBuilder("B").lsn(Sample.lsn).time(Sample.time).int8(0).bytes
        expectDecodingError(bytes, .truncated(expected: 4, actual: 1), offset: 17)
    }
}
