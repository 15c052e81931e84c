/// How a ``ByteReader`` reports a failed read: the decoding domain's own error type, carrying that
/// domain's context (the message tag for pgoutput messages; the type, format and base offset for
/// column values).
package protocol ByteReaderContext {
    associatedtype Failure: Error
    /// A read at `offset` needed `expected` more bytes but only `actual` were left.
    func truncated(expected: Int, actual: Int, at offset: Int) -> Failure
    /// A length at `offset` (read from the wire or asked for) was negative.
    func invalidLength(_ length: Int, at offset: Int) -> Failure
    /// Decoding finished at `offset` with `count` bytes not read.
    func trailingBytes(_ count: Int, at offset: Int) -> Failure
}

/// A bounds-checked, big-endian reader over borrowed bytes: the one cursor used for pgoutput
/// messages (``MessageReader``) and for column values (``ValueReader``).
///
/// Every read checks the remaining length first and throws the context's error (carrying the offset
/// of the failed read) instead of trapping. Reads that produce owned values (`[UInt8]`, `String`)
/// copy in bulk. After one bounds check, loads use the raw buffer directly.
///
/// - Important: The reader borrows its buffer. Create and use it inside a `withUnsafeBytes`
///   scope and never let it, or a slice it returned, escape that scope.
package struct ByteReader<Context: ByteReaderContext> {
    /// The bytes being read.
    package let bytes: UnsafeRawBufferPointer
    /// The offset of the next unread byte; always within `0...bytes.count`.
    package var offset: Int = 0
    /// What thrown errors say about where the bytes came from.
    package var context: Context

    @inline(__always)
    package init(_ bytes: UnsafeRawBufferPointer, context: Context) {
        self.bytes = bytes
        self.context = context
    }

    /// The number of bytes not yet read.
    @inline(__always)
    package var remaining: Int { bytes.count &- offset }

    /// Whether every byte was read.
    @inline(__always)
    package var isAtEnd: Bool { offset >= bytes.count }

    /// Throws unless `count` more bytes can be read.
    @inline(__always)
    package func require(_ count: Int) throws(Context.Failure) {
        guard count <= remaining else { throw context.truncated(expected: count, actual: remaining, at: offset) }
    }

    /// Reads a big-endian integer.
    @inline(__always)
    package mutating func readInteger<T: FixedWidthInteger & BitwiseCopyable>(
        as type: T.Type = T.self
    ) throws(Context.Failure) -> T {
        try require(MemoryLayout<T>.size)
        return readIntegerUnchecked()
    }

    /// Reads a big-endian integer that an earlier ``require(_:)`` proved is there.
    @inline(__always)
    package mutating func readIntegerUnchecked<T: FixedWidthInteger & BitwiseCopyable>(as type: T.Type = T.self) -> T {
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset &+= MemoryLayout<T>.size
        return T(bigEndian: value)
    }

    /// Reads one byte.
    @inline(__always)
    package mutating func readByte() throws(Context.Failure) -> UInt8 {
        try readInteger(as: UInt8.self)
    }

    /// The next byte without consuming it, or `nil` at the end.
    @inline(__always)
    package func peek() -> UInt8? { offset < bytes.count ? bytes[offset] : nil }

    /// Returns a view of the next `length` bytes and moves past them.
    ///
    /// - Important: The slice borrows the reader's buffer; it must not escape its scope.
    @inline(__always)
    package mutating func readSlice(length: Int) throws(Context.Failure) -> UnsafeRawBufferPointer {
        guard length >= 0 else { throw context.invalidLength(length, at: offset) }
        try require(length)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset &+ length)])
        offset &+= length
        return slice
    }

    /// Copies the next `length` bytes into an array (one bulk copy).
    package mutating func readBytes(length: Int) throws(Context.Failure) -> [UInt8] {
        try readSlice(length: length).copiedBytes
    }

    /// The rest of the bytes, which are then all read.
    package mutating func readRest() -> UnsafeRawBufferPointer {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset...])
        offset = bytes.count
        return slice
    }

    /// Throws unless every byte was read.
    @inline(__always)
    package func expectEnd() throws(Context.Failure) {
        guard remaining == 0 else { throw context.trailingBytes(remaining, at: offset) }
    }
}

// MARK: - pgoutput messages

/// The context of a pgoutput message being decoded: its tag, recorded in thrown errors.
package struct MessageContext: ByteReaderContext {
    /// The tag of the message being decoded; `nil` before it is read.
    package var messageType: UInt8?

    package init(messageType: UInt8? = nil) { self.messageType = messageType }

    package func error(_ kind: PGOutputDecodingError.Kind, at offset: Int) -> PGOutputDecodingError {
        PGOutputDecodingError(kind: kind, messageType: messageType, offset: offset)
    }

    package func truncated(expected: Int, actual: Int, at offset: Int) -> PGOutputDecodingError {
        error(.truncated(expected: expected, actual: actual), at: offset)
    }

    package func invalidLength(_ length: Int, at offset: Int) -> PGOutputDecodingError {
        error(.invalidLength(length), at: offset)
    }

    package func trailingBytes(_ count: Int, at offset: Int) -> PGOutputDecodingError {
        error(.trailingBytes(count: count), at: offset)
    }
}

/// A ``ByteReader`` over one pgoutput message; errors are ``PGOutputDecodingError``.
package typealias MessageReader = ByteReader<MessageContext>

extension ByteReader where Context == MessageContext {
    package init(_ bytes: UnsafeRawBufferPointer, messageType: UInt8? = nil) {
        self.init(bytes, context: MessageContext(messageType: messageType))
    }

    /// The tag of the message being decoded, recorded in thrown errors.
    package var messageType: UInt8? {
        get { context.messageType }
        set { context.messageType = newValue }
    }

    /// An error of the given kind at `offset` (default: the current offset).
    package func error(_ kind: PGOutputDecodingError.Kind, at offset: Int? = nil) -> PGOutputDecodingError {
        context.error(kind, at: offset ?? self.offset)
    }

    /// Reads an Int64 LSN.
    @inline(__always)
    package mutating func readLSN() throws(PGOutputDecodingError) -> LSN {
        LSN(rawValue: try readInteger(as: UInt64.self))
    }

    /// Reads an Int64 timestamp (microseconds since 2000-01-01).
    @inline(__always)
    package mutating func readTimestamp() throws(PGOutputDecodingError) -> PostgresTimestamp {
        PostgresTimestamp(rawValue: try readInteger(as: Int64.self))
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
        guard let string = UnsafeRawBufferPointer(rebasing: rest[..<length]).validatedUTF8String else {
            throw error(.invalidUTF8)
        }
        offset += length + 1
        return string
    }

    /// Reads one byte and checks it is one of `allowed`.
    @inline(__always)
    package mutating func readByte(oneOf allowed: [UInt8]) throws(PGOutputDecodingError) -> UInt8 {
        let start = offset
        let byte = try readByte()
        guard allowed.contains(byte) else { throw error(.unexpectedByte(expected: allowed, found: byte), at: start) }
        return byte
    }

    /// Reads the streamed-transaction xid that precedes some messages inside a stream block.
    @inline(__always)
    package mutating func readStreamXID(present: Bool) throws(PGOutputDecodingError) -> UInt32? {
        present ? try readInteger(as: UInt32.self) : nil
    }
}

// MARK: - Writing

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

    /// Writes an Int32 length and the bytes (at most `Int32.max` of them, all the format allows).
    package mutating func writeLengthPrefixedBytes(_ data: [UInt8]) {
        if data.count <= Int(Int32.max) {
            writeInteger(Int32(data.count))
            bytes.append(contentsOf: data)
        } else {
            writeInteger(Int32.max)
            bytes.append(contentsOf: data.prefix(Int(Int32.max)))
        }
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

// MARK: - Owned copies

extension UnsafeRawBufferPointer {
    /// A new array holding a copy of the bytes: one allocation and one `memcpy`, without the
    /// element-by-element collection copy.
    @inline(__always)
    var copiedBytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: self)
            initialized = count
        }
    }

    /// The bytes as a `String` when they are valid UTF-8, else `nil`.
    ///
    /// ASCII, the common case, is checked eight bytes at a time and then needs no further
    /// validation; anything else goes through the standard library's validating initializer.
    var validatedUTF8String: String? {
        if isASCII {
            let codeUnits = UnsafeBufferPointer(start: baseAddress?.assumingMemoryBound(to: UInt8.self), count: count)
            return String(decoding: codeUnits, as: UTF8.self)
        }
        return String(validating: self, as: UTF8.self)
    }

    /// Whether every byte is below 0x80.
    ///
    /// Whole words only: the last word (or, below eight bytes, the last half or quarter word)
    /// overlaps the previous one instead of a loop over the remaining bytes.
    var isASCII: Bool {
        let count = self.count
        var high: UInt64 = 0
        if count >= 8 {
            var index = 0
            while index &+ 8 <= count {
                high |= loadUnaligned(fromByteOffset: index, as: UInt64.self)
                index &+= 8
            }
            high |= loadUnaligned(fromByteOffset: count &- 8, as: UInt64.self)
        } else if count >= 4 {
            high = UInt64(
                loadUnaligned(fromByteOffset: 0, as: UInt32.self)
                    | loadUnaligned(fromByteOffset: count &- 4, as: UInt32.self))
        } else if count >= 2 {
            high = UInt64(
                loadUnaligned(fromByteOffset: 0, as: UInt16.self)
                    | loadUnaligned(fromByteOffset: count &- 2, as: UInt16.self))
        } else if count == 1 {
            high = UInt64(self[0])
        }
        return high & 0x8080_8080_8080_8080 == 0
    }
}
