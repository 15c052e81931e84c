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
            if byte == Column.Kind.text.rawValue || byte == Column.Kind.binary.rawValue {
                try reader.require(4)
                let lengthOffset = reader.offset
                let length = Int(reader.readIntegerUnchecked(as: Int32.self))
                guard length >= 0 else { throw reader.error(.invalidLength(length), at: lengthOffset) }
                try reader.require(length)
                reader.offset &+= length
            } else if byte != Column.Kind.null.rawValue && byte != Column.Kind.unchangedToast.rawValue {
                throw reader.error(.invalidTupleKind(byte), at: kindOffset)
            }
        }
        return TupleData(wire: .copying(UnsafeRawBufferPointer(rebasing: reader.bytes[start..<reader.offset])))
    }

    func encode(into writer: inout ByteWriter) {
        wire.withUnsafeBytes { writer.bytes.append(contentsOf: $0) }
    }
}
