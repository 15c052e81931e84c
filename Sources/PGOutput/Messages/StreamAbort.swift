extension PGOutputMessage {
    /// `A`: the abort of a streamed transaction or of one of its subtransactions.
    ///
    /// Layout after the tag: Int32 top-level xid, Int32 subtransaction xid (equal to the first for
    /// a whole-transaction abort); only with protocol version 4 and `streaming = parallel`: Int64
    /// abort LSN, Int64 abort time.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct StreamAbort: Hashable, Sendable {
        /// The top-level transaction id.
        public var xid: UInt32
        /// The aborted subtransaction's id; equals ``xid`` when the whole transaction aborted.
        public var subtransactionXID: UInt32
        /// The LSN of the abort record (protocol 4 with `streaming = parallel` only).
        public var abortLSN: LSN?
        /// The abort time (protocol 4 with `streaming = parallel` only).
        public var abortTime: PostgresTimestamp?

        /// Whether the whole transaction (not just a subtransaction) aborted.
        public var abortsWholeTransaction: Bool { xid == subtransactionXID }

        public init(xid: UInt32, subtransactionXID: UInt32, abortLSN: LSN? = nil, abortTime: PostgresTimestamp? = nil) {
            self.xid = xid
            self.subtransactionXID = subtransactionXID
            self.abortLSN = abortLSN
            self.abortTime = abortTime
        }

        /// Decodes the message; the abort LSN and time are read only when `parallelFields` is set
        /// and bytes remain after the two xids.
        static func decode(from reader: inout MessageReader, parallelFields: Bool) throws(PGOutputDecodingError) -> Self
        {
            var abort = Self(xid: try reader.readInteger(), subtransactionXID: try reader.readInteger())
            if parallelFields && reader.remaining > 0 {
                abort.abortLSN = try reader.readLSN()
                abort.abortTime = try reader.readTimestamp()
            }
            return abort
        }

        /// Writes the abort LSN and time when either is set (a missing one as zero).
        func encode(into writer: inout ByteWriter) {
            writer.writeInteger(xid)
            writer.writeInteger(subtransactionXID)
            if abortLSN != nil || abortTime != nil {
                writer.writeLSN(abortLSN ?? .zero)
                writer.writeTimestamp(abortTime ?? PostgresTimestamp(rawValue: 0))
            }
        }
    }
}
