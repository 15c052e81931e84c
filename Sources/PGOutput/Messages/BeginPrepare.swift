extension PGOutputMessage {
    /// `b`: the start of a prepared transaction (protocol 3, `two_phase` on).
    ///
    /// Layout after the tag: Int64 prepare LSN, Int64 end LSN of the prepared transaction, Int64
    /// prepare time, Int32 xid, String GID.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct BeginPrepare: Hashable, Sendable {
        /// The LSN of the PREPARE record.
        public var prepareLSN: LSN
        /// The end LSN of the prepared transaction.
        public var endLSN: LSN
        /// The prepare time.
        public var prepareTime: PostgresTimestamp
        /// The transaction id.
        public var xid: UInt32
        /// The global transaction identifier given to `PREPARE TRANSACTION`.
        public var gid: String

        public init(prepareLSN: LSN, endLSN: LSN, prepareTime: PostgresTimestamp, xid: UInt32, gid: String) {
            self.prepareLSN = prepareLSN
            self.endLSN = endLSN
            self.prepareTime = prepareTime
            self.xid = xid
            self.gid = gid
        }

        static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
            Self(
                prepareLSN: try reader.readLSN(), endLSN: try reader.readLSN(), prepareTime: try reader.readTimestamp(),
                xid: try reader.readInteger(), gid: try reader.readNullTerminatedString())
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeLSN(prepareLSN)
            writer.writeLSN(endLSN)
            writer.writeTimestamp(prepareTime)
            writer.writeInteger(xid)
            writer.writeNullTerminatedString(gid)
        }
    }
}
