extension PGOutputMessage {
    /// `I`: a row inserted into a table.
    ///
    /// Layout after the tag: [Int32 xid, inside a stream block], Int32 relation OID, Byte1 `N`,
    /// TupleData of the new row.
    ///
    /// The relation is described by the last Relation message with this OID
    /// (``PGOutputDecoder/relation(for:)-(UInt32)``).
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct Insert: Hashable, Sendable {
        /// The streamed-transaction xid, present only inside a stream block.
        public var xid: UInt32?
        /// The OID of the table.
        public var relationOID: UInt32
        /// The inserted row.
        public var newTuple: TupleData

        public init(xid: UInt32? = nil, relationOID: UInt32, newTuple: TupleData) {
            self.xid = xid
            self.relationOID = relationOID
            self.newTuple = newTuple
        }

        static func decode(from reader: inout MessageReader, streamXID: Bool) throws(PGOutputDecodingError) -> Self {
            var pool = WireBytes.Pool()
            return try decode(from: &reader, streamXID: streamXID, pool: &pool)
        }

        @inline(__always)
        static func decode(
            from reader: inout MessageReader, streamXID: Bool, pool: inout WireBytes.Pool
        )
            throws(PGOutputDecodingError) -> Self
        {
            let xid = try reader.readStreamXID(present: streamXID)
            let relationOID = try reader.readInteger(as: UInt32.self)
            try reader.readNewTupleMarker()
            return Self(
                xid: xid, relationOID: relationOID,
                newTuple: try TupleData.decode(from: &reader, pool: &pool, slot: 0))
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeStreamXID(xid)
            writer.writeInteger(relationOID)
            writer.writeInteger(TupleMarker.newTupleMarker)
            newTuple.encode(into: &writer)
        }
    }
}
