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
        var pool = WireBytes.Pool()
        return try decode(from: &reader, pool: &pool, slot: 0)
    }

    /// Checks an Int16 column count and that many columns, then copies them in one piece into a
    /// buffer of `pool` (its `slot`, 0 or 1).
    @inline(__always)
    static func decode(
        from reader: inout MessageReader, pool: inout WireBytes.Pool, slot: Int
    )
        throws(PGOutputDecodingError) -> Self
    {
        let start = reader.offset
        guard let end = wellFormedEnd(reader.bytes, from: start) else {
            return try decodeReportingError(from: &reader)
        }
        reader.offset = end
        return TupleData(wire: pool.copy(UnsafeRawBufferPointer(rebasing: reader.bytes[start..<end]), slot: slot))
    }

    /// The offset just past a well-formed tuple starting at `start`, or `nil` for anything else
    /// (``decodeReportingError(from:)`` then says what is wrong).
    ///
    /// One pass with plain offsets: every load is preceded by a check that it is in bounds, every
    /// sum is of non-negative values no larger than `bytes.count`, so none can overflow.
    @inline(__always)
    private static func wellFormedEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        let end = bytes.count
        guard start >= 0, start <= end, end &- start >= 2 else { return nil }
        var columns = Int(Int16(bigEndian: bytes.loadUnaligned(fromByteOffset: start, as: Int16.self)))
        guard columns >= 0 else { return nil }
        var offset = start &+ 2
        while columns > 0 {
            guard offset < end else { return nil }
            let kind = bytes.load(fromByteOffset: offset, as: UInt8.self)
            offset &+= 1
            if kind == Column.Kind.text.rawValue || kind == Column.Kind.binary.rawValue {
                guard end &- offset >= 4 else { return nil }
                let length = Int(Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
                offset &+= 4
                guard length >= 0, length <= end &- offset else { return nil }
                offset &+= length
            } else if kind != Column.Kind.null.rawValue && kind != Column.Kind.unchangedToast.rawValue {
                return nil
            }
            columns &-= 1
        }
        return offset
    }

    /// The field-by-field check, for a tuple the fast pass rejected: it throws the error for the
    /// first bad field (or, should the bytes be well formed after all, decodes them).
    private static func decodeReportingError(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
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

extension TupleData {
    /// How one column of a tuple came over the wire.
    public enum ValueKind: Hashable, Sendable {
        case null, unchangedToast, text, binary
    }

    /// Calls `body` with each column's kind and bytes, in order, without copying them: the bytes
    /// are valid only during the call.
    public func forEachColumn<E: Error>(
        _ body: (_ index: Int, _ kind: ValueKind, _ bytes: UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        let result = wire.withUnsafeBytes { buffer in
            Result { () throws(E) in
                var cursor = ColumnCursor(buffer)
                var index = 0
                while let (kind, bytes) = cursor.next() {
                    let valueKind: ValueKind
                    switch kind {
                    case .null: valueKind = .null
                    case .unchangedToast: valueKind = .unchangedToast
                    case .text: valueKind = .text
                    case .binary: valueKind = .binary
                    }
                    try body(index, valueKind, bytes)
                    index += 1
                }
            }
        }
        try result.get()
    }
}

extension TupleData {
    /// The tuple's wire form, borrowed (for keeping it elsewhere, such as a spill file).
    package func withWireBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R { wire.withUnsafeBytes(body) }

    /// The size of the wire form in bytes.
    package var wireByteCount: Int { wire.withUnsafeBytes { $0.count } }

    /// A tuple from a wire form that ``withWireBytes(_:)`` gave before, read back from storage:
    /// checked as a message's tuple is, since a file can be damaged; nil when the bytes are not
    /// exactly one well-formed tuple.
    package init?(checkingWire bytes: UnsafeRawBufferPointer) {
        guard Self.wellFormedEnd(bytes, from: 0) == bytes.count else { return nil }
        self.init(wire: WireBytes.copying(bytes))
    }
}
