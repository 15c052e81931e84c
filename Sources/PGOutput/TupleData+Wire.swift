extension TupleData.Column {
    /// The kind byte that introduces the column on the wire.
    enum Kind: UInt8, CaseIterable {
        case null = 0x6E  // ascii: n
        case unchangedToast = 0x75  // ascii: u
        case text = 0x74  // ascii: t
        case binary = 0x62  // ascii: b
    }
}

extension TupleData {
    /// Checks an Int16 column count and that many columns, then copies them in one piece.
    static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
        let start = reader.offset
        let count = Int(try reader.readInteger(as: Int16.self))
        guard count >= 0 else { throw reader.error(.invalidCount(count), at: start) }
        for _ in 0..<count {
            let kindOffset = reader.offset
            let byte = try reader.readByte()
            switch Column.Kind(rawValue: byte) {
            case .null, .unchangedToast: continue
            case .text, .binary:
                let lengthOffset = reader.offset
                let length = Int(try reader.readInteger(as: Int32.self))
                guard length >= 0 else { throw reader.error(.invalidLength(length), at: lengthOffset) }
                _ = try reader.readSlice(length: length)
            case nil: throw reader.error(.invalidTupleKind(byte), at: kindOffset)
            }
        }
        return TupleData(wire: UnsafeRawBufferPointer(rebasing: reader.bytes[start..<reader.offset]).copiedBytes)
    }

    func encode(into writer: inout ByteWriter) {
        writer.writeBytes(wire)
    }
}
