import PGOutput
import Testing

/// Insert, Update and Delete.
@Suite struct ChangeTests {
    static var newRow: [TupleData.Column] { [.text("1"), .null, .unchangedToast, .binary([0, 0, 0, 7])] }
    static var oldKey: [TupleData.Column] { [.text("1"), .null, .null, .null] }

    @Test func decodesInsert() throws {
        let bytes = MessageBuilder("I").uint32(16_384).char("N").tuple(Self.newRow).bytes
        try expectRoundTrip(
            bytes, decodesTo: .insert(.init(relationOID: 16_384, newTuple: TupleData(columns: Self.newRow))))
    }

    @Test func decodesUpdateWithoutOldTuple() throws {
        let bytes = MessageBuilder("U").uint32(16_384).char("N").tuple(Self.newRow).bytes
        try expectRoundTrip(
            bytes, decodesTo: .update(.init(relationOID: 16_384, newTuple: TupleData(columns: Self.newRow))))
    }

    @Test(arguments: PGOutputMessage.OldTuple.Kind.allCases)
    func decodesUpdateWithOldTuple(_ kind: PGOutputMessage.OldTuple.Kind) throws {
        let bytes = MessageBuilder("U").uint32(16_384).int8(kind.rawValue).tuple(Self.oldKey)
            .char("N").tuple(Self.newRow).bytes
        try expectRoundTrip(
            bytes,
            decodesTo: .update(
                .init(
                    relationOID: 16_384, oldTuple: .init(kind: kind, tuple: TupleData(columns: Self.oldKey)),
                    newTuple: TupleData(columns: Self.newRow))))
    }

    @Test(arguments: PGOutputMessage.OldTuple.Kind.allCases)
    func decodesDelete(_ kind: PGOutputMessage.OldTuple.Kind) throws {
        let bytes = MessageBuilder("D").uint32(16_384).int8(kind.rawValue).tuple(Self.oldKey).bytes
        try expectRoundTrip(
            bytes,
            decodesTo: .delete(
                .init(
                    relationOID: 16_384, oldTuple: .init(kind: kind, tuple: TupleData(columns: Self.oldKey)))))
    }

    @Test func updateWithBadNewTupleMarkerThrows() {
        let bytes = MessageBuilder("U").uint32(1).char("K").tuple([.text("1")]).char("X").tuple([.text("1")]).bytes
        expectDecodingError(bytes, .unexpectedByte(expected: [UInt8(ascii: "N")], found: UInt8(ascii: "X")), offset: 14)
    }

    @Test func updateWithBadFirstMarkerThrows() {
        let bytes = MessageBuilder("U").uint32(1).char("Q").tuple([.text("1")]).bytes
        expectDecodingError(bytes, .unexpectedByte(expected: Array("KON".utf8), found: UInt8(ascii: "Q")), offset: 5)
    }

    @Test func insertWithoutNMarkerThrows() {
        let bytes = MessageBuilder("I").uint32(1).char("K").tuple([.text("1")]).bytes
        expectDecodingError(bytes, .unexpectedByte(expected: [UInt8(ascii: "N")], found: UInt8(ascii: "K")), offset: 5)
    }

    @Test func deleteWithNewTupleMarkerThrows() {
        let bytes = MessageBuilder("D").uint32(1).char("N").tuple([.text("1")]).bytes
        expectDecodingError(bytes, .unexpectedByte(expected: Array("KO".utf8), found: UInt8(ascii: "N")), offset: 5)
    }

    @Test func changeForUnknownRelationDecodesAndLooksUpNil() throws {
        var decoder = PGOutputDecoder()
        let message = try decoder.decode(MessageBuilder("I").uint32(99).char("N").tuple([.null]).bytes)
        #expect(message.relationOID == 99)
        #expect(decoder.relation(for: message) == nil)
        _ = try decoder.decode(RelationTests.relationBytes())
        let insert = try decoder.decode(MessageBuilder("I").uint32(16_384).char("N").tuple([.null, .null]).bytes)
        #expect(decoder.relation(for: insert)?.name == "users")
    }

    @Test func updateFillsUnchangedToastFromOldRow() {
        let update = PGOutputMessage.Update(
            relationOID: 1,
            oldTuple: .init(kind: .old, tuple: TupleData(columns: [.text("1"), .text("big"), .text("0")])),
            newTuple: TupleData(columns: [.text("1"), .unchangedToast, .text("2")]))
        #expect(update.newTupleFillingUnchangedToast.columns == [.text("1"), .text("big"), .text("2")])
    }
}
