extension PGOutputMessage {
    /// `S`: the start of a block of changes from an in-progress (streamed) transaction.
    ///
    /// Layout after the tag: Int32 top-level xid, Int8 first-segment flag (1 on the first block of
    /// this xid). Until the matching Stream Stop, Relation, Type, Insert, Update, Delete, Truncate
    /// and Message carry an extra xid.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct StreamStart: Hashable, Sendable {
        /// The top-level transaction id.
        public var xid: UInt32
        /// The raw flag byte; 1 marks the first block of this transaction.
        public var flags: UInt8

        /// Whether this is the first block streamed for the transaction.
        public var isFirstSegment: Bool { flags == 1 }

        public init(xid: UInt32, flags: UInt8) {
            self.xid = xid
            self.flags = flags
        }

        public init(xid: UInt32, isFirstSegment: Bool) {
            self.init(xid: xid, flags: isFirstSegment ? 1 : 0)
        }

        static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
            Self(xid: try reader.readInteger(), flags: try reader.readByte())
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeInteger(xid)
            writer.writeInteger(flags)
        }
    }

}
