extension PGOutputMessage {
    /// `D`: a row deleted from a table.
    ///
    /// Layout after the tag: [Int32 xid, inside a stream block], Int32 relation OID, Byte1 `K`
    /// (old key) or `O` (old row), TupleData.
    ///
    /// Tables with `REPLICA IDENTITY NOTHING` (or no primary key) send no Delete at all.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct Delete: Hashable, Sendable {
        /// The streamed-transaction xid, present only inside a stream block.
        public var xid: UInt32?
        /// The OID of the table.
        public var relationOID: UInt32
        /// The deleted row's key (`K`) or whole old row (`O`).
        public var oldTuple: OldTuple

        public init(xid: UInt32? = nil, relationOID: UInt32, oldTuple: OldTuple) {
            self.xid = xid
            self.relationOID = relationOID
            self.oldTuple = oldTuple
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
            let markerOffset = reader.offset
            let marker = try reader.readByte()
            guard let kind = OldTuple.Kind(rawValue: marker) else {
                throw reader.error(
                    .unexpectedByte(expected: TupleMarker.oldTupleMarkers, found: marker), at: markerOffset)
            }
            return Self(
                xid: xid, relationOID: relationOID,
                oldTuple: OldTuple(kind: kind, tuple: try TupleData.decode(from: &reader, pool: &pool, slot: 0)))
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeStreamXID(xid)
            writer.writeInteger(relationOID)
            oldTuple.encode(into: &writer)
        }
    }
}
