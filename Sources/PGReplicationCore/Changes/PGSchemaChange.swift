import Foundation
import PGOutput

/// A published table's columns changed (`ALTER TABLE` between two of its changes): delivered
/// before the first change that has the new shape.
///
/// pgoutput describes a table again (a Relation message) before its first change after an
/// `ALTER TABLE`, and after every reconnect; the change stream compares the new description with
/// the last one it saw of the same table (by OID), across reconnects, and reports only real
/// differences. pgoutput names columns but does not number them, so a rename is inferred: one
/// column gone and one new at the same position with the same type.
public struct PGSchemaChange: Hashable, Sendable {
    /// The table as it was last described.
    public var old: PGTable
    /// The table as it is now; changes after this event have these columns.
    public var new: PGTable

    public init(old: PGTable, new: PGTable) {
        self.old = old
        self.new = new
    }

    /// Column names in the new shape that were not in the old one (renamed ones excepted).
    public var added: [String] {
        let renamedTo = Set(renamed.map(\.to))
        let oldNames = Set(old.columns.map(\.name))
        return new.columns.map(\.name).filter { !oldNames.contains($0) && !renamedTo.contains($0) }
    }

    /// Column names of the old shape that are gone (renamed ones excepted).
    public var dropped: [String] {
        let renamedFrom = Set(renamed.map(\.from))
        let newNames = Set(new.columns.map(\.name))
        return old.columns.map(\.name).filter { !newNames.contains($0) && !renamedFrom.contains($0) }
    }

    /// Columns of both shapes whose type or type modifier changed.
    public var retyped: [String] {
        let oldColumns = Dictionary(old.columns.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return new.columns.compactMap { column in
            guard let before = oldColumns[column.name] else { return nil }
            return before.typeOID != column.typeOID || before.typeModifier != column.typeModifier ? column.name : nil
        }
    }

    /// Renames, inferred: at one position, an old name that is gone and a new one that was not
    /// there, with the same type.
    public var renamed: [(from: String, to: String)] {
        let oldNames = Set(old.columns.map(\.name))
        let newNames = Set(new.columns.map(\.name))
        guard old.columns.count == new.columns.count else { return [] }
        return zip(old.columns, new.columns).compactMap { before, after in
            guard before.name != after.name, !newNames.contains(before.name), !oldNames.contains(after.name),
                before.typeOID == after.typeOID
            else { return nil }
            return (before.name, after.name)
        }
    }

    /// Whether the columns differ (names, order, types, key flags) or the table was renamed or
    /// moved to another schema, or its replica identity changed.
    static func differs(_ old: PGTable, _ new: PGTable) -> Bool {
        old.columns != new.columns || old.name != new.name || old.schema != new.schema
            || old.replicaIdentity != new.replicaIdentity
    }
}

/// The heartbeat of a change stream did not come back in time: connected, but not progressing.
public struct PGStreamStall: Hashable, Sendable {
    /// When the overdue heartbeat was emitted.
    public var since: Date
    /// Seconds since then.
    public var overdue: Double
    /// What is likely wrong, for a log line or an alert.
    public var explanation: String

    public init(since: Date, overdue: Double, explanation: String) {
        self.since = since
        self.overdue = overdue
        self.explanation = explanation
    }
}
