/// A bounds-checked, big-endian reader over borrowed bytes.
///
/// Every read checks the remaining length first and throws ``PGOutputDecodingError`` (carrying
/// ``messageType`` and the offset of the failed read) instead of trapping. Reads that produce
/// owned values (`[UInt8]`, `String`) copy in bulk.
///
/// - Important: The reader borrows its buffer. Create and use it inside a `withUnsafeBytes`
///   scope and never let it, or a slice it returned, escape that scope.
package struct ByteReader {
    /// The bytes being read.
    package let bytes: UnsafeRawBufferPointer
    /// The offset of the next unread byte.
    package private(set) var offset: Int = 0
    /// The tag of the message being decoded, recorded in thrown errors.
    package var messageType: UInt8?

    package init(_ bytes: UnsafeRawBufferPointer, messageType: UInt8? = nil) {
        self.bytes = bytes
        self.messageType = messageType
    }

    /// The number of bytes not yet read.
    package var remaining: Int { bytes.count - offset }

    /// An error of the given kind at `offset` (default: the current offset).
    package func error(_ kind: PGOutputDecodingError.Kind, at offset: Int? = nil) -> PGOutputDecodingError {
        PGOutputDecodingError(kind: kind, messageType: messageType, offset: offset ?? self.offset)
    }

    private func require(_ count: Int) throws(PGOutputDecodingError) {
        guard count <= remaining else { throw error(.truncated(expected: count, actual: remaining)) }
    }

    /// Reads a big-endian integer.
    package mutating func readInteger<T: FixedWidthInteger & BitwiseCopyable>(
        as type: T.Type = T.self
    ) throws(PGOutputDecodingError) -> T {
        let size = MemoryLayout<T>.size
        try require(size)
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(bigEndian: value)
    }

    /// Reads one byte.
    package mutating func readByte() throws(PGOutputDecodingError) -> UInt8 {
        try readInteger(as: UInt8.self)
    }

    /// Reads an Int64 LSN.
    package mutating func readLSN() throws(PGOutputDecodingError) -> LSN {
        LSN(rawValue: try readInteger(as: UInt64.self))
    }

    /// Reads an Int64 timestamp (microseconds since 2000-01-01).
    package mutating func readTimestamp() throws(PGOutputDecodingError) -> PostgresTimestamp {
        PostgresTimestamp(rawValue: try readInteger(as: Int64.self))
    }

    /// Returns a view of the next `length` bytes and moves past them.
    ///
    /// - Important: The slice borrows the reader's buffer; it must not escape its scope.
    package mutating func readSlice(length: Int) throws(PGOutputDecodingError) -> UnsafeRawBufferPointer {
        guard length >= 0 else { throw error(.invalidLength(length)) }
        try require(length)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
        offset += length
        return slice
    }

    /// Copies the next `length` bytes into an array (one bulk copy).
    package mutating func readBytes(length: Int) throws(PGOutputDecodingError) -> [UInt8] {
        [UInt8](try readSlice(length: length))
    }

    /// Reads an Int32 length and copies that many bytes; a negative length is an error at the
    /// length field.
    package mutating func readLengthPrefixedBytes() throws(PGOutputDecodingError) -> [UInt8] {
        let lengthOffset = offset
        let length = Int(try readInteger(as: Int32.self))
        guard length >= 0 else { throw error(.invalidLength(length), at: lengthOffset) }
        return try readBytes(length: length)
    }

    /// Reads a NUL-terminated, UTF-8 string and moves past the terminator.
    package mutating func readNullTerminatedString() throws(PGOutputDecodingError) -> String {
        let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
        guard let length = rest.firstIndex(of: 0) else { throw error(.missingStringTerminator) }
        guard let string = String(validating: UnsafeRawBufferPointer(rebasing: rest[..<length]), as: UTF8.self)
        else { throw error(.invalidUTF8) }
        offset += length + 1
        return string
    }

    /// Reads one byte and checks it is one of `allowed`.
    package mutating func readByte(oneOf allowed: [UInt8]) throws(PGOutputDecodingError) -> UInt8 {
        let start = offset
        let byte = try readByte()
        guard allowed.contains(byte) else { throw error(.unexpectedByte(expected: allowed, found: byte), at: start) }
        return byte
    }

    /// Reads the streamed-transaction xid that precedes some messages inside a stream block.
    package mutating func readStreamXID(present: Bool) throws(PGOutputDecodingError) -> UInt32? {
        present ? try readInteger(as: UInt32.self) : nil
    }

    /// Throws ``PGOutputDecodingError/Kind/trailingBytes(count:)`` unless every byte was read.
    package func expectEnd() throws(PGOutputDecodingError) {
        guard remaining == 0 else { throw error(.trailingBytes(count: remaining)) }
    }
}

/// Appends big-endian fields to a byte array; the encoding counterpart of ``ByteReader``.
package struct ByteWriter {
    package var bytes: [UInt8]

    package init(bytes: [UInt8] = []) { self.bytes = bytes }

    package mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    package mutating func writeLSN(_ lsn: LSN) { writeInteger(lsn.rawValue) }

    package mutating func writeTimestamp(_ time: PostgresTimestamp) { writeInteger(time.rawValue) }

    package mutating func writeBytes(_ data: [UInt8]) { bytes.append(contentsOf: data) }

    /// Writes an Int32 length and the bytes.
    package mutating func writeLengthPrefixedBytes(_ data: [UInt8]) {
        writeInteger(Int32(clamping: data.count))
        bytes.append(contentsOf: data)
    }

    /// Writes the string's UTF-8 bytes and a NUL terminator.
    package mutating func writeNullTerminatedString(_ string: String) {
        bytes.append(contentsOf: string.utf8)
        bytes.append(0)
    }

    /// Writes the streamed-transaction xid when there is one.
    package mutating func writeStreamXID(_ xid: UInt32?) {
        if let xid { writeInteger(xid) }
    }
}
