import PGOutput
import Testing

@Suite struct ByteReaderTests {
    @Test func readsBigEndianIntegersAndAdvances() throws {
        let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0xFF, 0xFE, 0x80]
        try bytes.withUnsafeBytes { buffer throws in
            var reader = ByteReader(buffer)
            #expect(try reader.readInteger(as: UInt32.self) == 0x0102_0304)
            #expect(try reader.readInteger(as: Int16.self) == -2)
            #expect(reader.offset == 6 && reader.remaining == 1)
            #expect(
                throws: PGOutputDecodingError(kind: .truncated(expected: 2, actual: 1), messageType: nil, offset: 6)
            ) {
                try reader.readInteger(as: UInt16.self)
            }
            #expect(try reader.readByte() == 0x80)
            try reader.expectEnd()
        }
    }

    @Test func readsStringsAndBytes() throws {
        let bytes = Array("héllo".utf8) + [0, 1, 2, 3]
        try bytes.withUnsafeBytes { buffer throws in
            var reader = ByteReader(buffer, messageType: UInt8(ascii: "R"))
            #expect(try reader.readNullTerminatedString() == "héllo")
            #expect(try reader.readBytes(length: 2) == [1, 2])
            #expect(throws: PGOutputDecodingError(kind: .invalidLength(-1), messageType: UInt8(ascii: "R"), offset: 9))
            {
                try reader.readSlice(length: -1)
            }
            #expect(
                throws: PGOutputDecodingError(kind: .missingStringTerminator, messageType: UInt8(ascii: "R"), offset: 9)
            ) {
                try reader.readNullTerminatedString()
            }
            #expect(
                throws: PGOutputDecodingError(kind: .trailingBytes(count: 1), messageType: UInt8(ascii: "R"), offset: 9)
            ) {
                try reader.expectEnd()
            }
        }
    }

    @Test func writerIsTheInverseOfTheReader() throws {
        var writer = ByteWriter()
        writer.writeInteger(Int32(-5))
        writer.writeNullTerminatedString("ok")
        writer.writeLengthPrefixedBytes([9, 8])
        try writer.bytes.withUnsafeBytes { buffer throws in
            var reader = ByteReader(buffer)
            #expect(try reader.readInteger(as: Int32.self) == -5)
            #expect(try reader.readNullTerminatedString() == "ok")
            #expect(try reader.readLengthPrefixedBytes() == [9, 8])
            try reader.expectEnd()
        }
    }
}
