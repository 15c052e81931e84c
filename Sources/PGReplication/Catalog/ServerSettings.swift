import PGOutput

/// The server's settings and the session's facts that the checks and the encoders need, read in
/// one statement: the one place that asks for them.
package struct ServerSettings: Hashable, Sendable {
    /// `wal_level`.
    package var walLevel: String
    /// `max_replication_slots`.
    package var maxReplicationSlots: Int
    /// `max_wal_senders`.
    package var maxWALSenders: Int
    /// Rows of `pg_stat_replication`: the WAL senders in use.
    package var activeWALSenders: Int
    /// `current_user`.
    package var role: String
    /// Whether the role may open replication connections (`REPLICATION` or superuser).
    package var roleMayReplicate: Bool
    /// The session's `TimeZone`, as `SHOW TimeZone` prints it.
    package var timeZone: String
    /// The offset of that zone from UTC now, in seconds east.
    package var timeZoneOffset: Int
    /// `current_database()`.
    package var database: String

    package static func read(on connection: some CatalogQuerying) throws -> ServerSettings {
        let row =
            try connection.execute(
                """
                SELECT current_setting('wal_level'), current_setting('max_replication_slots'),
                       current_setting('max_wal_senders'), (SELECT count(*) FROM pg_stat_replication),
                       current_user,
                       COALESCE((SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), false),
                       current_setting('TimeZone'), EXTRACT(TIMEZONE FROM now())::int, current_database()
                """
            ).rows.first ?? []
        func field(_ index: Int) -> String { index < row.count ? row[index] ?? "" : "" }
        return ServerSettings(
            walLevel: field(0), maxReplicationSlots: Int(field(1)) ?? 0, maxWALSenders: Int(field(2)) ?? 0,
            activeWALSenders: Int(field(3)) ?? 0, role: field(4), roleMayReplicate: field(5) == "t",
            timeZone: field(6).isEmpty ? "UTC" : field(6), timeZoneOffset: Int(field(7)) ?? 0, database: field(8))
    }

    /// `output_plugin_libraries` (PostgreSQL 18.x: the plugins replication connections may load),
    /// nil when the server has no such setting. Throws `insufficientPrivilege` when the role may not
    /// read it.
    package static func outputPluginLibraries(on connection: some CatalogQuerying) throws -> String? {
        try connection.execute("SELECT current_setting('output_plugin_libraries', true)").scalar
    }
}
