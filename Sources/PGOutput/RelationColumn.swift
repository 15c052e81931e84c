/// One column of a table as described by a pgoutput Relation message.
///
/// Layout per column: Int8 flags (1 = part of the replica identity key), String name,
/// Int32 type OID, Int32 type modifier (`atttypmod`).
public struct RelationColumn: Hashable, Sendable {
    /// The raw flags byte; bit 0 means the column is part of the replica identity key.
    public var flags: UInt8
    public var name: String
    /// The column's type OID (`pg_type.oid`).
    public var typeOID: UInt32
    /// The type modifier (`atttypmod`), -1 when there is none.
    public var typeModifier: Int32

    /// Whether the column belongs to the replica identity key.
    public var isKey: Bool { flags & 1 != 0 }

    public init(flags: UInt8, name: String, typeOID: UInt32, typeModifier: Int32) {
        self.flags = flags
        self.name = name
        self.typeOID = typeOID
        self.typeModifier = typeModifier
    }
}
