import PGOutput
import Testing

@Suite struct DecodingErrorTests {
    @Test func unknownTagThrowsAtOffsetZero() {
        expectDecodingError([UInt8(ascii: "Z"), 1, 2], .unknownMessageType, offset: 0)
    }

    @Test func emptyInputThrowsTruncated() {
        expectDecodingError([], .truncated(expected: 1, actual: 0), offset: 0)
    }

    @Test func trailingBytesThrowAfterTheMessage() {
        let bytes = MessageBuilder("B").lsn(Sample.lsn).time(Sample.time).uint32(Sample.xid).int8(0).bytes
        expectDecodingError(bytes, .trailingBytes(count: 1), offset: 21)
        expectDecodingError([UInt8(ascii: "E"), 0, 0], .trailingBytes(count: 2), offset: 1)
    }

    @Test func descriptionNamesMessageOffsetAndExpectation() {
        let error = PGOutputDecodingError(
            kind: .truncated(expected: 4, actual: 2), messageType: UInt8(ascii: "I"), offset: 9)
        #expect(
            error.description
                == "pgoutput Insert ('I') message, byte offset 9: truncated: expected 4 more bytes, found 2")
        let unknown = PGOutputDecodingError(kind: .unknownMessageType, messageType: 0x01, offset: 0)
        #expect(unknown.description == "pgoutput unknown message 0x01 message, byte offset 0: unknown message type")
        let marker = PGOutputDecodingError(
            kind: .unexpectedByte(expected: [UInt8(ascii: "N")], found: UInt8(ascii: "X")),
            messageType: UInt8(ascii: "U"), offset: 14)
        #expect(marker.description == "pgoutput Update ('U') message, byte offset 14: expected 'N', found 'X'")
    }

    @Test func codeIgnoresDetails() {
        #expect(PGOutputDecodingError.Kind.truncated(expected: 1, actual: 0).code == .truncated)
        #expect(PGOutputDecodingError.Kind.invalidTupleKind(0).code == .invalidTupleKind)
        #expect(PGOutputDecodingError.Kind.invalidUTF8.code != .truncated)
    }

    @Test func decodesFromARawBufferLikeFromAnArray() throws {
        let bytes = MessageBuilder("O").lsn(Sample.lsn).string("x").bytes
        var decoder = PGOutputDecoder()
        let fromBuffer = try bytes.withUnsafeBytes { buffer throws(PGOutputDecodingError) in try decoder.decode(buffer)
        }
        #expect(try fromBuffer == decoder.decode(bytes))
    }

    @Test func messageKindsHaveDistinctTagsAndEncoderUsesThem() {
        #expect(
            Set(PGOutputMessage.MessageKind.allCases.map(\.rawValue)).count
                == PGOutputMessage.MessageKind.allCases.count)
        #expect(PGOutputEncoder().encode(.streamStop(.init())) == [UInt8(ascii: "E")])
    }
}
