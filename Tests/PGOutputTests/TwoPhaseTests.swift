import PGOutput
import Testing

@Suite struct TwoPhaseTests {
    let decoder = PGOutputDecoder(protocolVersion: 3)

    @Test func decodesBeginPrepare() throws {
        let bytes = MessageBuilder("b").lsn(Sample.lsn).lsn(Sample.lsn2).time(Sample.time).uint32(Sample.xid).string(
            "gid-1"
        ).bytes
        try expectRoundTrip(
            bytes,
            decodesTo: .beginPrepare(
                .init(
                    prepareLSN: Sample.lsn, endLSN: Sample.lsn2, prepareTime: Sample.time, xid: Sample.xid, gid: "gid-1"
                )),
            decoder: decoder)
    }

    @Test(arguments: ["P", "p"] as [Unicode.Scalar])
    func decodesPrepareAndStreamPrepare(tag: Unicode.Scalar) throws {
        let bytes = MessageBuilder(tag).int8(0).lsn(Sample.lsn).lsn(Sample.lsn2).time(Sample.time).uint32(Sample.xid)
            .string("gid-2").bytes
        let prepare = PGOutputMessage.Prepare(
            prepareLSN: Sample.lsn, endLSN: Sample.lsn2, prepareTime: Sample.time, xid: Sample.xid, gid: "gid-2")
        try expectRoundTrip(
            bytes, decodesTo: tag == "P" ? .prepare(prepare) : .streamPrepare(prepare), decoder: decoder)
    }

    @Test func decodesCommitPrepared() throws {
        let bytes = MessageBuilder("K").int8(0).lsn(Sample.lsn).lsn(Sample.lsn2).time(Sample.time).uint32(Sample.xid)
            .string("gid-3").bytes
        try expectRoundTrip(
            bytes,
            decodesTo: .commitPrepared(
                .init(
                    commitLSN: Sample.lsn, endLSN: Sample.lsn2, commitTime: Sample.time, xid: Sample.xid, gid: "gid-3")),
            decoder: decoder)
    }

    @Test func decodesRollbackPrepared() throws {
        let bytes = MessageBuilder("r").int8(0).lsn(Sample.lsn).lsn(Sample.lsn2).time(Sample.time).time(Sample.time2)
            .uint32(Sample.xid).string("gid-4").bytes
        try expectRoundTrip(
            bytes,
            decodesTo: .rollbackPrepared(
                .init(
                    prepareEndLSN: Sample.lsn, rollbackEndLSN: Sample.lsn2, prepareTime: Sample.time,
                    rollbackTime: Sample.time2,
                    xid: Sample.xid, gid: "gid-4")), decoder: decoder)
    }
}
