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

        static func decode(from reader: inout ByteReader) throws(PGOutputDecodingError) -> Self {
            Self(prepareLSN: try reader.readLSN(), endLSN: try reader.readLSN(), prepareTime: try reader.readTimestamp(),
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

        public init(flags: UInt8 = 0, prepareLSN: LSN, endLSN: LSN, prepareTime: PostgresTimestamp, xid: UInt32,
                    gid: String) {
            self.flags = flags
            self.prepareLSN = prepareLSN
            self.endLSN = endLSN
            self.prepareTime = prepareTime
            self.xid = xid
            self.gid = gid
        }

        static func decode(from reader: inout ByteReader) throws(PGOutputDecodingError) -> Self {
            Self(flags: try reader.readByte(), prepareLSN: try reader.readLSN(), endLSN: try reader.readLSN(),
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

        public init(flags: UInt8 = 0, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp, xid: UInt32,
                    gid: String) {
            self.flags = flags
            self.commitLSN = commitLSN
            self.endLSN = endLSN
            self.commitTime = commitTime
            self.xid = xid
            self.gid = gid
        }

        static func decode(from reader: inout ByteReader) throws(PGOutputDecodingError) -> Self {
            Self(flags: try reader.readByte(), commitLSN: try reader.readLSN(), endLSN: try reader.readLSN(),
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

        public init(flags: UInt8 = 0, prepareEndLSN: LSN, rollbackEndLSN: LSN, prepareTime: PostgresTimestamp,
                    rollbackTime: PostgresTimestamp, xid: UInt32, gid: String) {
            self.flags = flags
            self.prepareEndLSN = prepareEndLSN
            self.rollbackEndLSN = rollbackEndLSN
            self.prepareTime = prepareTime
            self.rollbackTime = rollbackTime
            self.xid = xid
            self.gid = gid
        }

        static func decode(from reader: inout ByteReader) throws(PGOutputDecodingError) -> Self {
            Self(flags: try reader.readByte(), prepareEndLSN: try reader.readLSN(),
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
