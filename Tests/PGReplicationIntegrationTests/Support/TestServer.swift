import Foundation
import PGLocalCluster
import PGReplication
import Testing

/// The server the integration tests talk to: `PGREPL_TEST_DSN` when set (a server with
/// `wal_level=logical` that allows replication connections), otherwise a throwaway local cluster
/// started once per test process. No server is a failure, never a skip.
enum TestServer {
    /// The base DSN (database `postgres`).
    static func dsn() throws -> String {
        try baseDSN.get()
    }

    private static let baseDSN: Result<String, any Error> = Result {
        if let dsn = ProcessInfo.processInfo.environment["PGREPL_TEST_DSN"], !dsn.isEmpty { return dsn }
        return try startLocalCluster()
    }

    /// A DSN with extra `key=value` words appended.
    static func dsn(_ extra: String) throws -> String { try dsn() + " " + extra }

    /// Runs SQL on a fresh ordinary connection.
    @discardableResult
    static func sql(_ statement: String) throws -> PGConnection.QueryResult {
        let connection = try PGConnection(dsn())
        defer { connection.close() }
        return try connection.execute(statement)
    }

    /// A new database and its DSN. Logical slots decode every table of their database, so a test
    /// that counts what a test_decoding slot delivers keeps its tables in a database of its own.
    static func makeDatabase() throws -> (name: String, dsn: String) {
        let name = uniqueName("db")
        try sql("CREATE DATABASE \(name)")
        return (name, try dsn("dbname=\(name)"))
    }

    /// Drops a database made by `makeDatabase()`, with its connections.
    static func dropDatabase(_ name: String) {
        dropQuietly("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// A name no other test uses (lower case, valid as a slot name).
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UInt32.random(in: 0...UInt32.max))_\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// `confirmed_flush_lsn` of a slot.
    static func confirmedFlush(_ slot: String) throws -> LSN {
        let text = try sql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '\(slot)'").scalar
        return try LSN(text ?? "0/0")
    }

    static func slotExists(_ slot: String) throws -> Bool {
        try sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '\(slot)'").scalar == "1"
    }

    /// Cleanup after a test: runs `statement` (DROP …) and ignores its failure. The test's checks
    /// ran before, so a failure only leaves an object behind in the shared test database (the
    /// names are unique) and hides nothing; it is ignored here, in one place.
    static func dropQuietly(_ statement: String) {
        _ = try? sql(statement)
    }

    /// Drops a slot, waiting (up to 10 s) for its walsender to release it.
    static func dropSlot(_ slot: String) {
        for _ in 0..<100 {
            do {
                guard try slotExists(slot) else { return }
                try sql("SELECT pg_drop_replication_slot('\(slot)')")
                return
            } catch {
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    /// The walsender PID serving a slot, waiting for it to be active.
    static func activePID(_ slot: String) throws -> Int? {
        for _ in 0..<50 {
            if let pid = try sql("SELECT active_pid FROM pg_replication_slots WHERE slot_name = '\(slot)'").scalar {
                return Int(pid)
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return nil
    }

    /// A table with a unique name: `(id serial primary key, v text)`.
    static func makeTable(_ prefix: String = "t") throws -> String {
        let name = uniqueName(prefix)
        try sql("CREATE TABLE \(name) (id serial PRIMARY KEY, v text)")
        return name
    }
}

/// Reads messages with `readMessage()` and `poll` until `until` returns true or time runs out.
func pollMessages(
    _ cursor: ReplicationCursor, seconds: Double, until: (ReplicationMessage) throws -> Bool = { _ in false }
) throws -> [ReplicationMessage] {
    var messages: [ReplicationMessage] = []
    let deadline = Date().addingTimeInterval(seconds)
    let socket = try cursor.fileno()
    while Date() < deadline {
        if let message = try cursor.readMessage() {
            messages.append(message)
            if try until(message) { return messages }
            continue
        }
        if cursor.streamEnd != nil { break }
        var fd = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        _ = poll(&fd, 1, 100)
    }
    return messages
}
