extension PGOutputMessage {
    /// `M`: a message written with `pg_logical_emit_message` (needs the `messages` option).
    ///
    /// Layout after the tag: [Int32 xid, inside a stream block], Int8 flags (1 = transactional),
    /// Int64 LSN of the message, String prefix, Int32 content length, content bytes.
    ///
    /// A non-transactional message can arrive outside any Begin … Commit pair.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct LogicalMessage: Hashable, Sendable {
        /// The streamed-transaction xid, present only inside a stream block.
        public var xid: UInt32?
        /// The raw flags; bit 0 means the message is transactional.
        public var flags: UInt8
        /// The LSN of the logical decoding message.
        public var lsn: LSN
        /// The prefix given to `pg_logical_emit_message`.
        public var prefix: String
        /// The message content (owned copy).
        public var content: [UInt8]

        /// Whether the message was emitted as part of a transaction.
        public var isTransactional: Bool { flags & 1 != 0 }

        public init(xid: UInt32? = nil, flags: UInt8, lsn: LSN, prefix: String, content: [UInt8]) {
            self.xid = xid
            self.flags = flags
            self.lsn = lsn
            self.prefix = prefix
            self.content = content
        }

        public init(xid: UInt32? = nil, isTransactional: Bool, lsn: LSN, prefix: String, content: [UInt8]) {
            self.init(xid: xid, flags: isTransactional ? 1 : 0, lsn: lsn, prefix: prefix, content: content)
        }

        static func decode(from reader: inout MessageReader, streamXID: Bool) throws(PGOutputDecodingError) -> Self {
            let xid = try reader.readStreamXID(present: streamXID)
            let flags = try reader.readByte()
            let lsn = try reader.readLSN()
            let prefix = try reader.readNullTerminatedString()
            return Self(xid: xid, flags: flags, lsn: lsn, prefix: prefix, content: try reader.readLengthPrefixedBytes())
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeStreamXID(xid)
            writer.writeInteger(flags)
            writer.writeLSN(lsn)
            writer.writeNullTerminatedString(prefix)
            writer.writeLengthPrefixedBytes(content)
        }
    }
}
