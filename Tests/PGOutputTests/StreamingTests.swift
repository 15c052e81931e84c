import PGOutput
import Testing

/// Stream Start/Stop/Commit/Abort and the streamed xid on changes.
@Suite struct StreamingTests {
    static let start = MessageBuilder("S").uint32(Sample.xid).int8(1).bytes
    static let stop = MessageBuilder("E").bytes

    @Test func decodesStreamStartAndStop() throws {
        try expectRoundTrip(Self.start, decodesTo: .streamStart(.init(xid: Sample.xid, isFirstSegment: true)))
        try expectRoundTrip(Self.stop, decodesTo: .streamStop(.init()))
    }

    @Test func decodesStreamCommit() throws {
        let bytes = MessageBuilder("c").uint32(Sample.xid).int8(0).lsn(Sample.lsn).lsn(Sample.lsn2).time(Sample.time)
            .bytes
        try expectRoundTrip(
            bytes,
            decodesTo: .streamCommit(
                .init(
                    xid: Sample.xid, commitLSN: Sample.lsn, endLSN: Sample.lsn2, commitTime: Sample.time)))
    }

    @Test func changesCarryXIDOnlyInsideAStreamBlock() throws {
        var decoder = PGOutputDecoder(protocolVersion: 2, streaming: .on)
        let outside = MessageBuilder("I").uint32(16_384).char("N").tuple([.text("1")]).bytes
        let inside = MessageBuilder("I").uint32(Sample.subxid).uint32(16_384).char("N").tuple([.text("1")]).bytes
        #expect(try decoder.decode(outside).streamXID == nil)
        _ = try decoder.decode(Self.start)
        #expect(decoder.inStream)
        let streamed = try decoder.decode(inside)
        #expect(
            streamed == .insert(.init(xid: Sample.subxid, relationOID: 16_384, newTuple: .init(columns: [.text("1")]))))
        #expect(PGOutputEncoder().encode(streamed) == inside)
        _ = try decoder.decode(Self.stop)
        #expect(!decoder.inStream)
        #expect(try decoder.decode(outside).streamXID == nil)
    }

    @Test func everyStreamableMessageRoundTripsWithXID() throws {
        var decoder = PGOutputDecoder(protocolVersion: 2, streaming: .on)
        _ = try decoder.decode(Self.start)
        let tuple = TupleData(columns: [.text("1")])
        let messages: [PGOutputMessage] = [
            .relation(
                .init(xid: 9, oid: 1, namespace: "", name: "t", replicaIdentity: .full, columns: RelationTests.columns)),
            .type(.init(xid: 9, oid: 2, namespace: "public", name: "mood")),
            .insert(.init(xid: 9, relationOID: 1, newTuple: tuple)),
            .update(.init(xid: 9, relationOID: 1, oldTuple: .init(kind: .old, tuple: tuple), newTuple: tuple)),
            .delete(.init(xid: 9, relationOID: 1, oldTuple: .init(kind: .key, tuple: tuple))),
            .truncate(.init(xid: 9, options: .cascade, relationOIDs: [1])),
            .message(.init(xid: 9, isTransactional: true, lsn: Sample.lsn, prefix: "p", content: [1])),
        ]
        for message in messages {
            #expect(try decoder.decode(PGOutputEncoder().encode(message)) == message)
            #expect(message.streamXID == 9)
        }
    }

    @Test func decodesStreamAbortWithoutParallelFields() throws {
        let bytes = MessageBuilder("A").uint32(Sample.xid).uint32(Sample.subxid).bytes
        let abort = PGOutputMessage.StreamAbort(xid: Sample.xid, subtransactionXID: Sample.subxid)
        #expect(!abort.abortsWholeTransaction)
        for decoder in [
            PGOutputDecoder(protocolVersion: 2, streaming: .on), PGOutputDecoder(protocolVersion: 4, streaming: .on),
            PGOutputDecoder(protocolVersion: 4, streaming: .parallel),
        ] {
            try expectRoundTrip(bytes, decodesTo: .streamAbort(abort), decoder: decoder)
        }
    }

    @Test func decodesProtocol4ParallelStreamAbort() throws {
        let abort = PGOutputMessage.StreamAbort(
            xid: Sample.xid, subtransactionXID: Sample.xid, abortLSN: Sample.lsn, abortTime: Sample.time)
        let bytes = PGOutputEncoder().encode(.streamAbort(abort))
        #expect(
            bytes == MessageBuilder("A").uint32(Sample.xid).uint32(Sample.xid).lsn(Sample.lsn).time(Sample.time).bytes)
        try expectRoundTrip(
            bytes, decodesTo: .streamAbort(abort), decoder: PGOutputDecoder(protocolVersion: 4, streaming: .parallel))
        #expect(abort.abortsWholeTransaction)
    }

    @Test(arguments: [(4, PGOutputDecoder.StreamingMode.on), (3, .parallel), (2, .on)])
    func parallelFieldsAreTrailingBytesUnlessRequested(version: Int, streaming: PGOutputDecoder.StreamingMode) {
        let bytes = MessageBuilder("A").uint32(1).uint32(1).lsn(Sample.lsn).time(Sample.time).bytes
        expectDecodingError(
            bytes, .trailingBytes(count: 16), offset: 9,
            decoder: PGOutputDecoder(protocolVersion: version, streaming: streaming))
    }

    @Test func partialParallelFieldsThrowTruncated() {
        let bytes = MessageBuilder("A").uint32(1).uint32(1).int32(0).bytes
        expectDecodingError(
            bytes, .truncated(expected: 8, actual: 4), offset: 9,
            decoder: PGOutputDecoder(protocolVersion: 4, streaming: .parallel))
    }

    @Test func resetLeavesTheStreamBlockAndEmptiesCaches() throws {
        var decoder = PGOutputDecoder(protocolVersion: 2, streaming: .on)
        _ = try decoder.decode(RelationTests.relationBytes())
        _ = try decoder.decode(Self.start)
        decoder.reset()
        #expect(!decoder.inStream)
        #expect(decoder.relations.isEmpty && decoder.types.isEmpty)
    }

    @Test func failedDecodeLeavesStateUnchanged() throws {
        var decoder = PGOutputDecoder(protocolVersion: 2, streaming: .on)
        #expect(throws: PGOutputDecodingError.self) { try decoder.decode(Array(Self.start.dropLast())) }
        #expect(!decoder.inStream)
        #expect(throws: PGOutputDecodingError.self) { try decoder.decode(RelationTests.relationBytes() + [0]) }
        #expect(decoder.relations.isEmpty)
    }
}
