extension PGOutputMessage {
    /// `R`: the description of a published table, sent before the first change to it in a
    /// session, after schema or publication changes, and in each streamed transaction using it.
    ///
    /// Layout after the tag: [Int32 xid, inside a stream block], Int32 relation OID, String
    /// namespace (empty for `pg_catalog`), String relation name, Int8 replica identity (`d`, `n`,
    /// `f` or `i`), Int16 column count, then per column Int8 flags, String name, Int32 type OID,
    /// Int32 type modifier.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct Relation: Hashable, Sendable {
        /// The table's `REPLICA IDENTITY` setting, which decides what old values Update and Delete carry.
        public enum ReplicaIdentity: UInt8, Hashable, Sendable, CaseIterable {
            /// `d`: the primary key (if any).
            case `default` = 0x64  // ascii: d
            /// `n`: nothing; updates and deletes carry no old values.
            case nothing = 0x6E  // ascii: n
            /// `f`: the whole old row.
            case full = 0x66  // ascii: f
            /// `i`: the columns of a chosen unique index.
            case index = 0x69  // ascii: i

            static let wireBytes: [UInt8] = allCases.map(\.rawValue)
        }

        /// The streamed-transaction xid, present only inside a stream block.
        public var xid: UInt32?
        /// The table's OID.
        public var oid: UInt32
        /// The schema name; an empty string means `pg_catalog`.
        public var namespace: String
        /// The table name.
        public var name: String
        /// The replica identity setting.
        public var replicaIdentity: ReplicaIdentity
        /// The published columns, in the order tuples list them.
        public var columns: [RelationColumn]

        public init(
            xid: UInt32? = nil, oid: UInt32, namespace: String, name: String,
            replicaIdentity: ReplicaIdentity, columns: [RelationColumn]
        ) {
            self.xid = xid
            self.oid = oid
            self.namespace = namespace
            self.name = name
            self.replicaIdentity = replicaIdentity
            self.columns = columns
        }

        static func decode(from reader: inout MessageReader, streamXID: Bool) throws(PGOutputDecodingError) -> Self {
            let xid = try reader.readStreamXID(present: streamXID)
            let oid = try reader.readInteger(as: UInt32.self)
            let namespace = try reader.readNullTerminatedString()
            let name = try reader.readNullTerminatedString()
            let identityByte = try reader.readByte(oneOf: ReplicaIdentity.wireBytes)
            let replicaIdentity = ReplicaIdentity(rawValue: identityByte) ?? .default
            let countOffset = reader.offset
            let count = Int(try reader.readInteger(as: Int16.self))
            guard count >= 0 else { throw reader.error(.invalidCount(count), at: countOffset) }
            var columns: [RelationColumn] = []
            // Each column takes at least 10 bytes; never reserve more than the input can hold.
            columns.reserveCapacity(min(count, reader.remaining / 10))
            for _ in 0..<count {
                columns.append(try RelationColumn.decode(from: &reader))
            }
            return Self(
                xid: xid, oid: oid, namespace: namespace, name: name, replicaIdentity: replicaIdentity,
                columns: columns)
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeStreamXID(xid)
            writer.writeInteger(oid)
            writer.writeNullTerminatedString(namespace)
            writer.writeNullTerminatedString(name)
            writer.writeInteger(replicaIdentity.rawValue)
            writer.writeInteger(Int16(clamping: columns.count))
            for column in columns.prefix(Int(Int16.max)) { column.encode(into: &writer) }
        }
    }
}

extension RelationColumn {
    static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
        Self(
            flags: try reader.readByte(), name: try reader.readNullTerminatedString(),
            typeOID: try reader.readInteger(), typeModifier: try reader.readInteger())
    }

    func encode(into writer: inout ByteWriter) {
        writer.writeInteger(flags)
        writer.writeNullTerminatedString(name)
        writer.writeInteger(typeOID)
        writer.writeInteger(typeModifier)
    }
}
