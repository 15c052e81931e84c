import PGOutput
import Testing

@Suite struct RelationTests {
    static let columns = [
        RelationColumn(flags: 1, name: "id", typeOID: 23, typeModifier: -1),
        RelationColumn(flags: 0, name: "name", typeOID: 1043, typeModifier: 36),
    ]

    static func relationBytes(identity: Unicode.Scalar = "d", xid: UInt32? = nil) -> [UInt8] {
        var builder = MessageBuilder("R")
        if let xid { builder = builder.uint32(xid) }
        return builder.uint32(16_384).string("public").string("users").char(identity).int16(2)
            .int8(1).string("id").uint32(23).int32(-1)
            .int8(0).string("name").uint32(1043).int32(36).bytes
    }

    @Test(arguments: PGOutputMessage.Relation.ReplicaIdentity.allCases)
    func decodesRelationWithEachReplicaIdentity(_ identity: PGOutputMessage.Relation.ReplicaIdentity) throws {
        let bytes = Self.relationBytes(identity: Unicode.Scalar(identity.rawValue))
        try expectRoundTrip(
            bytes,
            decodesTo: .relation(
                .init(
                    oid: 16_384, namespace: "public", name: "users", replicaIdentity: identity, columns: Self.columns)))
    }

    @Test func relationColumnKeyFlag() {
        #expect(Self.columns.map(\.isKey) == [true, false])
    }

    @Test func unknownReplicaIdentityThrows() {
        expectDecodingError(
            Self.relationBytes(identity: "x"), .unexpectedByte(expected: Array("dnfi".utf8), found: UInt8(ascii: "x")),
            offset: 18)
    }

    @Test func negativeColumnCountThrows() {
        let bytes = MessageBuilder("R").uint32(1).string("").string("t").char("d").int16(-1).bytes
        expectDecodingError(bytes, .invalidCount(-1), offset: 9)
    }

    @Test func invalidUTF8NameThrows() {
        let bytes = MessageBuilder("R").uint32(1).string("public").raw([0xC3, 0x28, 0]).char("d").int16(0).bytes
        expectDecodingError(bytes, .invalidUTF8, offset: 12)
    }

    @Test func missingStringTerminatorThrows() {
        let bytes = MessageBuilder("R").uint32(1).raw(Array("public".utf8)).bytes
        expectDecodingError(bytes, .missingStringTerminator, offset: 5)
    }

    @Test func decodesTypeDefinition() throws {
        let bytes = MessageBuilder("Y").uint32(16_390).string("public").string("mood").bytes
        try expectRoundTrip(bytes, decodesTo: .type(.init(oid: 16_390, namespace: "public", name: "mood")))
    }

    @Test func relationAndTypeAreCached() throws {
        var decoder = PGOutputDecoder()
        _ = try decoder.decode(MessageBuilder("Y").uint32(16_390).string("public").string("mood").bytes)
        _ = try decoder.decode(Self.relationBytes())
        #expect(decoder.relation(for: 16_384)?.name == "users")
        #expect(decoder.typeDefinition(for: 16_390)?.name == "mood")
        #expect(decoder.relations.count == 1 && decoder.types.count == 1)
    }
}
