extension PGOutputMessage {
    /// `C`: the end of a transaction.
    ///
    /// Layout after the tag: Int8 flags (currently 0), Int64 commit LSN, Int64 end LSN of the
    /// transaction, Int64 commit time.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct Commit: Hashable, Sendable {
        /// Flags; currently unused (0).
        public var flags: UInt8
        /// The LSN of the commit record.
        public var commitLSN: LSN
        /// The end LSN of the transaction: the position to confirm once it is applied.
        public var endLSN: LSN
        /// The commit time of the transaction.
        public var commitTime: PostgresTimestamp

        public init(flags: UInt8 = 0, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp) {
            self.flags = flags
            self.commitLSN = commitLSN
            self.endLSN = endLSN
            self.commitTime = commitTime
        }

        static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
            Self(
                flags: try reader.readByte(), commitLSN: try reader.readLSN(), endLSN: try reader.readLSN(),
                commitTime: try reader.readTimestamp())
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeInteger(flags)
            writer.writeLSN(commitLSN)
            writer.writeLSN(endLSN)
            writer.writeTimestamp(commitTime)
        }
    }
}
