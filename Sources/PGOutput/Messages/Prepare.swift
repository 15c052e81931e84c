extension PGOutputMessage {
    /// `P`: `PREPARE TRANSACTION` (protocol 3); also the payload of `p` Stream Prepare.
    ///
    /// Layout after the tag: Int8 flags (currently 0), Int64 prepare LSN, Int64 end LSN of the
    /// prepared transaction, Int64 prepare time, Int32 xid, String GID.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct Prepare: Hashable, Sendable {
        /// Flags; currently unused (0).
        public var flags: UInt8
        /// The LSN of the PREPARE record.
        public var prepareLSN: LSN
        /// The end LSN of the prepared transaction.
        public var endLSN: LSN
        /// The prepare time.
        public var prepareTime: PostgresTimestamp
        /// The transaction id.
        public var xid: UInt32
        /// The global transaction identifier.
        public var gid: String

        public init(
            flags: UInt8 = 0, prepareLSN: LSN, endLSN: LSN, prepareTime: PostgresTimestamp, xid: UInt32,
            gid: String
        ) {
            self.flags = flags
            self.prepareLSN = prepareLSN
            self.endLSN = endLSN
            self.prepareTime = prepareTime
            self.xid = xid
            self.gid = gid
        }

        static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
            Self(
                flags: try reader.readByte(), prepareLSN: try reader.readLSN(), endLSN: try reader.readLSN(),
                prepareTime: try reader.readTimestamp(), xid: try reader.readInteger(),
                gid: try reader.readNullTerminatedString())
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeInteger(flags)
            writer.writeLSN(prepareLSN)
            writer.writeLSN(endLSN)
            writer.writeTimestamp(prepareTime)
            writer.writeInteger(xid)
            writer.writeNullTerminatedString(gid)
        }
    }

    /// `p`: the prepare of a streamed transaction (protocol 3). Same layout as ``Prepare``.
    public typealias StreamPrepare = Prepare
}
