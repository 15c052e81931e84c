import Foundation
import PGOutput

extension ChangeStream {
    /// First connection only: create what the configuration asks for, and copy the initial
    /// snapshot when the slot is new.
    func prepare(
        connection: LogicalReplicationConnection, cursor: ReplicationCursor, handler: (PGChangeEvent) throws -> Void
    ) throws {
        let sql = try PGConnection(configuration.dsn, logger: logger, interruption: interruption)
        defer { sql.close() }
        if let scope = configuration.createPublication {
            let existing = try Publication.read(configuration.publications, on: sql)
            for publication in configuration.publications {
                guard existing[publication] == nil else { continue }
                var command = "CREATE PUBLICATION \(try sql.quoteIdentifier(publication))"
                switch scope {
                case .allTables: command += " FOR ALL TABLES"
                case .tables(let tables) where tables.isEmpty: break
                case .tables(let tables):
                    command +=
                        " FOR TABLE " + (try tables.map { try qualifiedIdentifier($0, sql) }).joined(separator: ", ")
                }
                if configuration.publishGeneratedColumns {
                    try sql.version.require(.publishedGeneratedColumns, "publishGeneratedColumns")
                    command += " WITH (publish_generated_columns = stored)"
                }
                try sql.execute(command)
                logger.debug("publication created", metadata: ["pgrepl.publication": "\(publication)"])
            }
        }
        guard configuration.createSlot else { return }
        guard try SlotStatus.read(configuration.slot, on: sql) == nil else { return }
        // Before a slot is made, or a snapshot copied, for publications that do not exist (an
        // existing slot's connection checks them when it lands).
        try checkPublications(cursor)
        guard configuration.initialSnapshot else {
            try cursor.createReplicationSlot(
                configuration.slot, outputPlugin: "pgoutput", temporary: configuration.temporarySlot,
                twoPhase: configuration.twoPhase, snapshot: .nothing, failover: configuration.failoverSlot)
            return
        }
        try createSlotWithSnapshot(cursor: cursor, sql: sql, handler: handler)
    }

    /// The initial snapshot's completion record is the slot itself.
    ///
    /// The copy reads from a temporary slot's exported snapshot; only once every row was handled
    /// is the configured slot made, as a copy of the temporary one
    /// (`pg_copy_logical_replication_slot`: the same consistent point). An interruption at any
    /// point of the copy (process death, a handler error, a lost connection) leaves no slot
    /// behind, since a temporary slot ends with its connection, so the next run creates it and
    /// copies again: a slot of this name never exists without its snapshot having been handled.
    private func createSlotWithSnapshot(
        cursor: ReplicationCursor, sql: PGConnection, handler: (PGChangeEvent) throws -> Void
    ) throws {
        let permanent = !configuration.temporarySlot
        let copyName = permanent ? Self.snapshotSlotName() : configuration.slot
        let slot = try cursor.createReplicationSlot(
            copyName, outputPlugin: "pgoutput", temporary: true, twoPhase: configuration.twoPhase,
            snapshot: .export)
        guard let name = slot.snapshotName else {
            throw ChangeStreamError(
                .snapshotIncomplete, "the server exported no snapshot for the initial copy", slot: configuration.slot)
        }
        do {
            try copySnapshot(named: name, consistentPoint: slot.consistentPoint, sql: sql, handler: handler)
        } catch let failure as HandlerFailure {
            throw failure
        } catch {
            logger.warning("initial snapshot abandoned", metadata: ["pgrepl.slot": "\(configuration.slot)"])
            throw ChangeStreamError(
                .snapshotIncomplete,
                "the initial snapshot copy failed part way (\(error)); no slot was left behind, so the next run"
                    + " creates it and copies again",
                slot: configuration.slot, underlying: error as? PGError)
        }
        guard permanent else { return }
        // Every row was handled: the copy becomes the configured slot (a two-phase one gets its
        // setting back at its first START, which asks for two_phase).
        try sql.execute(
            "SELECT pg_copy_logical_replication_slot(\(try sql.quoteLiteral(copyName)), "
                + "\(try sql.quoteLiteral(configuration.slot)), false)")
        try cursor.dropReplicationSlot(copyName)
        if configuration.failoverSlot { try cursor.alterReplicationSlot(configuration.slot, failover: true) }
        logger.debug(
            "slot created after the initial snapshot",
            metadata: ["pgrepl.slot": "\(configuration.slot)", "pgrepl.consistent_point": "\(slot.consistentPoint)"])
    }

    /// A name for the temporary slot an initial snapshot is copied from: unique, and a valid
    /// slot name of at most 63 bytes.
    static func snapshotSlotName() -> String {
        "pgrepl_snapshot_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    /// `schema.table` or `table`, each part quoted.
    private func qualifiedIdentifier(_ name: String, _ sql: PGConnection) throws -> String {
        let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
        return try parts.map { try sql.quoteIdentifier($0) }.joined(separator: ".")
    }
}
