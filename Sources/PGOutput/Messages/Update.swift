extension PGOutputMessage {
    /// `U`: a row updated in a table.
    ///
    /// Layout after the tag: [Int32 xid, inside a stream block], Int32 relation OID, optionally
    /// Byte1 `K` (old key) or `O` (old row) followed by TupleData, then Byte1 `N` and the TupleData
    /// of the new row.
    ///
    /// The old tuple is present when the key changed (`K`) or the table has `REPLICA IDENTITY FULL`
    /// (`O`). Columns stored out of line and left unchanged arrive as
    /// ``TupleData/Column/unchangedToast``; ``newTupleFillingUnchangedToast`` fills them from the
    /// old row when it has them.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct Update: Hashable, Sendable {
        /// The streamed-transaction xid, present only inside a stream block.
        public var xid: UInt32?
        /// The OID of the table.
        public var relationOID: UInt32
        /// The old key or old row, when the server sent one.
        public var oldTuple: OldTuple?
        /// The new row.
        public var newTuple: TupleData

        public init(xid: UInt32? = nil, relationOID: UInt32, oldTuple: OldTuple? = nil, newTuple: TupleData) {
            self.xid = xid
            self.relationOID = relationOID
            self.oldTuple = oldTuple
            self.newTuple = newTuple
        }

        /// The new row with unchanged TOAST columns taken from the old tuple where it has them.
        public var newTupleFillingUnchangedToast: TupleData {
            newTuple.fillingUnchangedToast(from: oldTuple?.tuple)
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
            var oldTuple: OldTuple?
            if let kind = OldTuple.Kind(rawValue: marker) {
                oldTuple = OldTuple(kind: kind, tuple: try TupleData.decode(from: &reader, pool: &pool, slot: 1))
                try reader.readNewTupleMarker()
            } else if marker != TupleMarker.newTupleMarker {
                throw reader.error(
                    .unexpectedByte(expected: TupleMarker.updateTupleMarkers, found: marker), at: markerOffset)
            }
            return Self(
                xid: xid, relationOID: relationOID, oldTuple: oldTuple,
                newTuple: try TupleData.decode(from: &reader, pool: &pool, slot: 0))
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeStreamXID(xid)
            writer.writeInteger(relationOID)
            oldTuple?.encode(into: &writer)
            writer.writeInteger(TupleMarker.newTupleMarker)
            newTuple.encode(into: &writer)
        }
    }
}
