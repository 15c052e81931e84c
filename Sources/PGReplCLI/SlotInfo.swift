import PGReplication

/// One row of `pg_replication_slots`, with the slot's lag.
struct SlotInfo: Encodable, Equatable {
    var name: String
    var type: String
    var plugin: String?
    var database: String?
    var active: Bool
    var activePID: Int?
    var confirmedFlushLSN: LSN?
    var restartLSN: LSN?
    var walStatus: String?
    /// The server's WAL position the lag is measured against.
    var currentLSN: LSN?
    /// `currentLSN` − confirmed_flush_lsn (restart_lsn for physical slots).
    var lagBytes: Int64?
    /// Whether a logical slot was invalidated by a conflict with recovery (PostgreSQL 16+).
    var conflicting: Bool?
    /// Whether standbys synchronize the slot (PostgreSQL 17+).
    var failover: Bool?
    /// Whether the slot is a standby's synchronized copy of a primary's failover slot (17+).
    var synced: Bool?
    /// When the slot was last released (17+), as the server prints it.
    var inactiveSince: String?
    /// Why the slot was invalidated (17+): wal_removed, rows_removed, wal_level_insufficient,
    /// idle_timeout (18+).
    var invalidationReason: String?
    /// Server versions that have these columns, for the table's optional ones.
    var serverVersion = 0

    enum CodingKeys: String, CodingKey {
        case name = "slot_name", type = "slot_type", plugin, database, active, activePID = "active_pid"
        case confirmedFlushLSN = "confirmed_flush_lsn", restartLSN = "restart_lsn", walStatus = "wal_status"
        case currentLSN = "current_lsn", lagBytes = "lag_bytes", conflicting, failover, synced
        case inactiveSince = "inactive_since", invalidationReason = "invalidation_reason"
    }

    /// Every key present, null when there is no value.
    func encode(to encoder: any Encoder) throws {
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
        try container.encode(conflicting, forKey: .conflicting)
        try container.encode(failover, forKey: .failover)
        try container.encode(synced, forKey: .synced)
        try container.encode(inactiveSince, forKey: .inactiveSince)
        try container.encode(invalidationReason, forKey: .invalidationReason)
    }

    /// The slots of the server (one slot when `slot` is given), by name. Needs PostgreSQL 13+
    /// (`wal_status`); the columns of later versions are null before them.
    static func fetch(_ options: ConnectionOptions, slot: String?) throws(CLIError) -> [SlotInfo] {
        let connection = try options.sqlConnection()
        defer { connection.close() }
        return try attempt(slot.map { "reading slot \"\($0)\"" } ?? "listing slots") {
            let filter = try slot.map { "WHERE slot_name = \(try connection.quoteLiteral($0))" } ?? ""
            let version = connection.serverVersion
            let conflicting = version >= 160000 ? "conflicting" : "NULL::bool"
            let later =
                version >= 170000
                ? "failover, synced, inactive_since, invalidation_reason"
                : "NULL::bool, NULL::bool, NULL::text, NULL::text"
            let result = try connection.execute(
                """
                SELECT slot_name, slot_type, plugin, database, active, active_pid, confirmed_flush_lsn, restart_lsn,
                       wal_status, now.lsn, (now.lsn - coalesce(confirmed_flush_lsn, restart_lsn))::bigint,
                       \(conflicting), \(later)
                FROM pg_replication_slots,
                     LATERAL (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                                          ELSE pg_current_wal_lsn() END AS lsn) AS now
                \(filter)
                ORDER BY slot_name
                """)
            return try result.rows.map { row throws in
                func text(_ index: Int) -> String? { index < row.count ? row[index] : nil }
                func lsn(_ index: Int) throws -> LSN? { try text(index).map { try LSN($0) } }
                func flag(_ index: Int) -> Bool? { text(index).map { $0 == "t" } }
                return SlotInfo(
                    name: text(0) ?? "", type: text(1) ?? "", plugin: text(2), database: text(3),
                    active: text(4) == "t",
                    activePID: text(5).flatMap { Int($0) }, confirmedFlushLSN: try lsn(6), restartLSN: try lsn(7),
                    walStatus: text(8), currentLSN: try lsn(9), lagBytes: text(10).flatMap { Int64($0) },
                    conflicting: flag(11), failover: flag(12), synced: flag(13), inactiveSince: text(14),
                    invalidationReason: text(15), serverVersion: version)
            }
        }
    }
}
