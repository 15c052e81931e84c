extension PGOutputMessage {
    /// `c`: the commit of a streamed transaction.
    ///
    /// Layout after the tag: Int32 xid, Int8 flags (currently 0), Int64 commit LSN, Int64 end LSN
    /// of the transaction, Int64 commit time.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct StreamCommit: Hashable, Sendable {
        /// The top-level transaction id.
        public var xid: UInt32
        /// Flags; currently unused (0).
        public var flags: UInt8
        /// The LSN of the commit record.
        public var commitLSN: LSN
        /// The end LSN of the transaction.
        public var endLSN: LSN
        /// The commit time.
        public var commitTime: PostgresTimestamp

        public init(xid: UInt32, flags: UInt8 = 0, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp) {
            self.xid = xid
            self.flags = flags
            self.commitLSN = commitLSN
            self.endLSN = endLSN
            self.commitTime = commitTime
        }

        static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
            Self(
                xid: try reader.readInteger(), flags: try reader.readByte(), commitLSN: try reader.readLSN(),
                endLSN: try reader.readLSN(), commitTime: try reader.readTimestamp())
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeInteger(xid)
            writer.writeInteger(flags)
            writer.writeLSN(commitLSN)
            writer.writeLSN(endLSN)
            writer.writeTimestamp(commitTime)
        }
    }
}
