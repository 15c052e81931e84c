extension PGOutputMessage {
    /// `r`: `ROLLBACK PREPARED` (protocol 3).
    ///
    /// Layout after the tag: Int8 flags (currently 0), Int64 end LSN of the prepared transaction,
    /// Int64 end LSN of the rollback-prepared record, Int64 prepare time, Int64 rollback time,
    /// Int32 xid, String GID.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct RollbackPrepared: Hashable, Sendable {
        /// Flags; currently unused (0).
        public var flags: UInt8
        /// The end LSN of the prepared transaction.
        public var prepareEndLSN: LSN
        /// The end LSN of the ROLLBACK PREPARED record.
        public var rollbackEndLSN: LSN
        /// The prepare time.
        public var prepareTime: PostgresTimestamp
        /// The rollback time.
        public var rollbackTime: PostgresTimestamp
        /// The transaction id.
        public var xid: UInt32
        /// The global transaction identifier.
        public var gid: String

        public init(
            flags: UInt8 = 0, prepareEndLSN: LSN, rollbackEndLSN: LSN, prepareTime: PostgresTimestamp,
            rollbackTime: PostgresTimestamp, xid: UInt32, gid: String
        ) {
            self.flags = flags
            self.prepareEndLSN = prepareEndLSN
            self.rollbackEndLSN = rollbackEndLSN
            self.prepareTime = prepareTime
            self.rollbackTime = rollbackTime
            self.xid = xid
            self.gid = gid
        }

        static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
            Self(
                flags: try reader.readByte(), prepareEndLSN: try reader.readLSN(),
                rollbackEndLSN: try reader.readLSN(), prepareTime: try reader.readTimestamp(),
                rollbackTime: try reader.readTimestamp(), xid: try reader.readInteger(),
                gid: try reader.readNullTerminatedString())
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeInteger(flags)
            writer.writeLSN(prepareEndLSN)
            writer.writeLSN(rollbackEndLSN)
            writer.writeTimestamp(prepareTime)
            writer.writeTimestamp(rollbackTime)
            writer.writeInteger(xid)
            writer.writeNullTerminatedString(gid)
        }
    }
}
