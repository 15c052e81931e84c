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
    /// Decodes an Int16 column count followed by that many columns.
    static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
        let countOffset = reader.offset
        let count = Int(try reader.readInteger(as: Int16.self))
        guard count >= 0 else { throw reader.error(.invalidCount(count), at: countOffset) }
        var columns: [Column] = []
        // Each column takes at least its kind byte; never reserve more than the input can hold.
        columns.reserveCapacity(min(count, reader.remaining))
        for _ in 0..<count {
            let kindOffset = reader.offset
            let byte = try reader.readByte()
            switch Column.Kind(rawValue: byte) {
            case .null: columns.append(.null)
            case .unchangedToast: columns.append(.unchangedToast)
            case .text: columns.append(.text(try reader.readLengthPrefixedBytes()))
            case .binary: columns.append(.binary(try reader.readLengthPrefixedBytes()))
            case nil: throw reader.error(.invalidTupleKind(byte), at: kindOffset)
            }
        }
        return TupleData(columns: columns)
    }

    func encode(into writer: inout ByteWriter) {
        writer.writeInteger(Int16(clamping: columns.count))
        for column in columns.prefix(Int(Int16.max)) {
            switch column {
            case .null:
                writer.writeInteger(Column.Kind.null.rawValue)
            case .unchangedToast:
                writer.writeInteger(Column.Kind.unchangedToast.rawValue)
            case .text(let bytes):
                writer.writeInteger(Column.Kind.text.rawValue)
                writer.writeLengthPrefixedBytes(bytes)
            case .binary(let bytes):
                writer.writeInteger(Column.Kind.binary.rawValue)
                writer.writeLengthPrefixedBytes(bytes)
            }
        }
    }
}
