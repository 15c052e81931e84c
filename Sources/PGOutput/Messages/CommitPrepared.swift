extension PGOutputMessage {
    /// `K`: `COMMIT PREPARED` (protocol 3).
    ///
    /// Layout after the tag: Int8 flags (currently 0), Int64 commit LSN, Int64 end LSN of the
    /// commit-prepared record, Int64 commit time, Int32 xid, String GID.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct CommitPrepared: Hashable, Sendable {
        /// Flags; currently unused (0).
        public var flags: UInt8
        /// The LSN of the COMMIT PREPARED record.
        public var commitLSN: LSN
        /// The end LSN of the COMMIT PREPARED record.
        public var endLSN: LSN
        /// The commit time.
        public var commitTime: PostgresTimestamp
        /// The transaction id.
        public var xid: UInt32
        /// The global transaction identifier.
        public var gid: String

        public init(
            flags: UInt8 = 0, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp, xid: UInt32,
            gid: String
        ) {
            self.flags = flags
            self.commitLSN = commitLSN
            self.endLSN = endLSN
            self.commitTime = commitTime
            self.xid = xid
            self.gid = gid
        }

        static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
            Self(
                flags: try reader.readByte(), commitLSN: try reader.readLSN(), endLSN: try reader.readLSN(),
                commitTime: try reader.readTimestamp(), xid: try reader.readInteger(),
                gid: try reader.readNullTerminatedString())
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeInteger(flags)
            writer.writeLSN(commitLSN)
            writer.writeLSN(endLSN)
            writer.writeTimestamp(commitTime)
            writer.writeInteger(xid)
            writer.writeNullTerminatedString(gid)
        }
    }
}
