extension PGOutputMessage {
    /// `Y`: the name of a non-built-in data type used by a following Relation message.
    ///
    /// Layout after the tag: [Int32 xid, inside a stream block], Int32 type OID, String namespace
    /// (empty for `pg_catalog`), String type name.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct TypeDefinition: Hashable, Sendable {
        /// The streamed-transaction xid, present only inside a stream block.
        public var xid: UInt32?
        /// The type's OID.
        public var oid: UInt32
        /// The schema name; an empty string means `pg_catalog`.
        public var namespace: String
        /// The type name.
        public var name: String

        public init(xid: UInt32? = nil, oid: UInt32, namespace: String, name: String) {
            self.xid = xid
            self.oid = oid
            self.namespace = namespace
            self.name = name
        }

        static func decode(from reader: inout MessageReader, streamXID: Bool) throws(PGOutputDecodingError) -> Self {
            Self(
                xid: try reader.readStreamXID(present: streamXID), oid: try reader.readInteger(),
                namespace: try reader.readNullTerminatedString(), name: try reader.readNullTerminatedString())
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeStreamXID(xid)
            writer.writeInteger(oid)
            writer.writeNullTerminatedString(namespace)
            writer.writeNullTerminatedString(name)
        }
    }
}
