import Foundation
import PGOutput

/// One row of `pg_replication_slots`, typed: the one reading of it for the stream (its landing
/// check and its diagnosis after a failure) and for `pgrepl check`, `slot list` and `slot status`.
///
/// Columns a server version lacks are nil (``ServerFeature/slotConflicting``,
/// ``ServerFeature/slotInvalidationReason``).
package struct SlotStatus: Hashable, Sendable, Encodable {
    package var name: String
    /// `logical` or `physical`.
    package var type: String
    /// The output plugin of a logical slot.
    package var plugin: String?
    /// The database of a logical slot.
    package var database: String?
    package var active: Bool
    package var activePID: Int?
    package var confirmedFlushLSN: LSN?
    package var restartLSN: LSN?
    /// `reserved`, `extended`, `unreserved` or `lost`.
    package var walStatus: String?
    /// The server's WAL position the lag is measured against (the last received on a standby).
    package var currentLSN: LSN?
    /// `currentLSN` − `confirmed_flush_lsn` (`restart_lsn` for physical slots).
    package var lagBytes: Int64?
    /// Whether the slot decodes prepared transactions (PostgreSQL 14+).
    package var twoPhase: Bool
    /// Whether a logical slot was invalidated by a conflict with recovery (16+).
    package var conflicting: Bool?
    /// Whether standbys synchronize the slot (17+).
    package var failover: Bool?
    /// Whether the slot is a standby's synchronized copy of a primary's failover slot (17+).
    package var synced: Bool?
    /// When the slot was last released (17+), as the server prints it.
    package var inactiveSince: String?
    /// The server's own `invalidation_reason` column (17+).
    package var serverInvalidationReason: String?
    /// The database the status was read in (`current_database()`).
    package var connectedDatabase: String

    /// Why the slot can no longer be used, in PostgreSQL 17's words whatever the version: its
    /// `invalidation_reason` (`wal_removed`, `rows_removed`, `wal_level_insufficient`,
    /// `idle_timeout`), else `wal_removed` for `wal_status = lost` and `rows_removed` for
    /// `conflicting` (16). Nil while the slot is usable.
    package var invalidationReason: String? {
        serverInvalidationReason ?? (walStatus == "lost" ? "wal_removed" : nil)
            ?? (conflicting == true ? "rows_removed" : nil)
    }

    /// Whether it is a logical slot of pgoutput, what a change stream reads.
    package var isPGOutput: Bool { type == "logical" && plugin == "pgoutput" }

    /// The slots of the server (only `slot` when given), by name.
    package static func read(_ slot: String? = nil, on connection: PGConnection) throws -> [SlotStatus] {
        let filter = try slot.map { "WHERE slot_name = \(try connection.quoteLiteral($0))" } ?? ""
        return try connection.execute(query(version: connection.version, filter: filter)).rows.map(parse)
    }

    /// The slot named `slot`, or nil when there is none.
    package static func read(_ slot: String, on connection: PGConnection) throws -> SlotStatus? {
        try read(Optional(slot), on: connection).first
    }

    /// The slot named `slot` read over a replication connection, or nil when there is none.
    static func read(_ slot: String, on cursor: ReplicationCursor) throws -> SlotStatus? {
        let filter = "WHERE slot_name = \(try cursor.quoteLiteral(slot, what: "the slot name"))"
        let (_, row) = try cursor.queryRow(query(version: cursor.connection.version, filter: filter))
        return try row.map(parse)
    }

    private static func query(version: ServerVersion, filter: String) -> String {
        let conflicting = version.supports(.slotConflicting) ? "conflicting" : "NULL::bool"
        let later =
            version.supports(.slotInvalidationReason)
            ? "failover, synced, inactive_since, invalidation_reason"
            : "NULL::bool, NULL::bool, NULL::text, NULL::text"
        let twoPhase = version.supports(.twoPhaseSlots) ? "two_phase" : "false"
        return """
            SELECT slot_name, slot_type, plugin, database, active, active_pid, confirmed_flush_lsn, restart_lsn,
                   wal_status, now.lsn, (now.lsn - coalesce(confirmed_flush_lsn, restart_lsn))::bigint,
                   \(twoPhase), \(conflicting), \(later), current_database()
            FROM pg_replication_slots,
                 LATERAL (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                                      ELSE pg_current_wal_lsn() END AS lsn) AS now
            \(filter)
            ORDER BY slot_name
            """
    }

    private static func parse(_ row: [String?]) throws -> SlotStatus {
        func text(_ index: Int) -> String? { index < row.count ? row[index] : nil }
        func lsn(_ index: Int) throws -> LSN? { try text(index).map { try LSN($0) } }
        func flag(_ index: Int) -> Bool? { text(index).map { $0 == "t" } }
        return SlotStatus(
            name: text(0) ?? "", type: text(1) ?? "", plugin: text(2), database: text(3), active: text(4) == "t",
            activePID: text(5).flatMap { Int($0) }, confirmedFlushLSN: try lsn(6), restartLSN: try lsn(7),
            walStatus: text(8), currentLSN: try lsn(9), lagBytes: text(10).flatMap { Int64($0) },
            twoPhase: flag(11) ?? false, conflicting: flag(12), failover: flag(13), synced: flag(14),
            inactiveSince: text(15), serverInvalidationReason: text(16), connectedDatabase: text(17) ?? "")
    }

    /// Why a change stream cannot read a slot.
    package enum Mismatch: Hashable, Sendable, CustomStringConvertible {
        /// A physical slot, or one of another output plugin.
        case notPGOutput(name: String, type: String, plugin: String?)
        /// A slot of another database than the connection's.
        case otherDatabase(slot: String, connected: String)
        /// A two-phase slot sends PREPARE whether or not START asks for it, and a consumer that
        /// does not expect it would take a prepared transaction, later rolled back, for a
        /// committed one.
        case decodesPreparedTransactions

        package var description: String {
            switch self {
            case .notPGOutput(let name, let type, let plugin):
                "\"\(name)\" is a \(type) slot\(plugin.map { " of plugin \($0)" } ?? ""); a change stream needs a"
                    + " pgoutput slot"
            case .otherDatabase(let slot, let connected):
                "the slot belongs to database \"\(slot)\", not \"\(connected)\""
            case .decodesPreparedTransactions:
                "the slot decodes prepared transactions (two-phase), which would reach the consumer as if committed"
            }
        }
    }

    /// Why a change stream that asks (`twoPhase`) or not for prepared transactions cannot read
    /// this slot; nil when it can.
    package func mismatch(twoPhase asked: Bool) -> Mismatch? {
        guard isPGOutput else { return .notPGOutput(name: name, type: type, plugin: plugin) }
        if let database, database != connectedDatabase {
            return .otherDatabase(slot: database, connected: connectedDatabase)
        }
        if twoPhase, !asked { return .decodesPreparedTransactions }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case name = "slot_name", type = "slot_type", plugin, database, active, activePID = "active_pid"
        case confirmedFlushLSN = "confirmed_flush_lsn", restartLSN = "restart_lsn", walStatus = "wal_status"
        case currentLSN = "current_lsn", lagBytes = "lag_bytes", twoPhase = "two_phase", conflicting, failover
        case synced, inactiveSince = "inactive_since", invalidationReason = "invalidation_reason"
    }

    /// `pgrepl slot list --json`: every key present, null when there is no value; the
    /// invalidation reason in the one wording of ``invalidationReason``.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(type, forKey: .type)
        try container.encode(plugin, forKey: .plugin)
        try container.encode(database, forKey: .database)
        try container.encode(active, forKey: .active)
        try container.encode(activePID, forKey: .activePID)
        try container.encode(confirmedFlushLSN, forKey: .confirmedFlushLSN)
        try container.encode(restartLSN, forKey: .restartLSN)
        try container.encode(walStatus, forKey: .walStatus)
        try container.encode(currentLSN, forKey: .currentLSN)
        try container.encode(lagBytes, forKey: .lagBytes)
        try container.encode(twoPhase, forKey: .twoPhase)
        try container.encode(conflicting, forKey: .conflicting)
        try container.encode(failover, forKey: .failover)
        try container.encode(synced, forKey: .synced)
        try container.encode(inactiveSince, forKey: .inactiveSince)
        try container.encode(invalidationReason, forKey: .invalidationReason)
    }
}

extension PGConnection {
    /// The server's version, for ``ServerVersion/supports(_:)`` and ``ServerVersion/require(_:_:)``.
    public var version: ServerVersion { ServerVersion(number: serverVersion) }
}

extension ReplicationConnection {
    /// The server's version, for ``ServerVersion/supports(_:)`` and ``ServerVersion/require(_:_:)``.
    public var version: ServerVersion { ServerVersion(number: serverVersion) }
}
