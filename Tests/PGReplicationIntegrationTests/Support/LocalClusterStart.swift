import PGLocalCluster

/// Starts the throwaway cluster shared by the tests of this process (destroyed at exit).
func startLocalCluster() throws -> String {
    do {
        return try LocalCluster.shared(testClusterConfiguration).dsn()
    } catch {
        throw TestSetupError(
            "the integration tests need a PostgreSQL server and could not start one: \(error)\n"
                + "Install PostgreSQL (Debian/Ubuntu: apt-get install postgresql postgresql-15-wal2json), "
                + "or set PGREPL_TEST_DSN to a server with wal_level=logical.")
    }
}

/// The settings every test cluster uses.
let testClusterConfiguration = LocalCluster.Configuration(settings: [
    "max_wal_senders": "40", "max_replication_slots": "60", "wal_sender_timeout": "60s",
])

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
