extension PGOutputMessage {
    /// `B`: the start of a transaction (sent before its first published change).
    ///
    /// Layout after the tag: Int64 final LSN of the transaction, Int64 commit time, Int32 xid.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct Begin: Hashable, Sendable {
        /// The LSN of the transaction's commit record.
        public var finalLSN: LSN
        /// The commit time of the transaction.
        public var commitTime: PostgresTimestamp
        /// The transaction id.
        public var xid: UInt32

        public init(finalLSN: LSN, commitTime: PostgresTimestamp, xid: UInt32) {
            self.finalLSN = finalLSN
            self.commitTime = commitTime
            self.xid = xid
        }

        static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
            Self(
                finalLSN: try reader.readLSN(), commitTime: try reader.readTimestamp(),
                xid: try reader.readInteger())
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeLSN(finalLSN)
            writer.writeTimestamp(commitTime)
            writer.writeInteger(xid)
        }
    }
}
