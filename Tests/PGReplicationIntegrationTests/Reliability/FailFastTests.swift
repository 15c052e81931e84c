import Foundation
import Logging
import PGLocalCluster
import PGReplication
import Testing

/// `ChangeStream` fails fast and says why: what reconnecting cannot cure is a
/// `ChangeStreamError` at the first attempt, under the default policy (which retries a lost
/// connection for ever), within 5 s, with the server's message and SQLSTATE.
@Suite(.serialized) struct FailFastTests {
    static let user = "app"
    static let password = "right-password"

    /// A cluster with password logins over TCP, a published table, a pgoutput slot and a role
    /// without the REPLICATION attribute.
    private func withCluster(_ body: (LocalCluster) throws -> Void) throws {
        var settings = testClusterConfiguration
        settings.authentication = .scramPassword(user: Self.user, password: Self.password)
        settings.settings["max_prepared_transactions"] = "5"
        let cluster = try LocalCluster.start(settings)
        defer { cluster.destroy() }
        try cluster.psql(
            """
            CREATE TABLE t (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE t;
            CREATE ROLE plain LOGIN PASSWORD 'plain-password';
            GRANT SELECT ON t TO plain;
            """)
        try cluster.psql("SELECT pg_create_logical_replication_slot('good', 'pgoutput')")
        try body(cluster)
    }

    /// Runs a stream with the default reconnect policy and returns its error and how long it took.
    private func failure(
        _ dsn: String, slot: String = "good", publication: String = "pub", logger: Logger? = nil,
        _ adjust: (inout ChangeStream.Configuration) -> Void = { _ in }
    ) throws -> (error: ChangeStreamError, seconds: Double) {
        var configuration = ChangeStream.Configuration(dsn: dsn, slot: slot, publications: [publication])
        adjust(&configuration)
        let stream = ChangeStream(configuration, logger: logger)
        // A stream that would retry for ever is stopped after 20 s, failing the check below.
        let guardTimer = DispatchSource.makeTimerSource()
        guardTimer.schedule(deadline: .now() + 20)
        guardTimer.setEventHandler { stream.stop() }
        guardTimer.resume()
        defer { guardTimer.cancel() }
        let start = Date()
        let error = try #require(throws: ChangeStreamError.self) { try stream.consume { _ in } }
        return (error, Date().timeIntervalSince(start))
    }

    private func expectFast(
        _ result: (error: ChangeStreamError, seconds: Double), _ kind: ChangeStreamError.Kind, sqlState: SQLState?,
        naming words: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.error.kind == kind, "\(result.error)", sourceLocation: sourceLocation)
        #expect(result.seconds < 5, "took \(result.seconds) s: \(result.error)", sourceLocation: sourceLocation)
        if let sqlState {
            #expect(result.error.underlying?.sqlState == sqlState, "\(result.error)", sourceLocation: sourceLocation)
        }
        for word in words {
            #expect(result.error.message.contains(word), "\(result.error)", sourceLocation: sourceLocation)
        }
    }

    @Test(.timeLimit(.minutes(3))) func refusedLoginsEndTheStreamAtOnce() throws {
        try withCluster { cluster in
            let dsn = cluster.dsn(user: Self.user)
            expectFast(
                try failure(dsn + " password=wrong"), .cannotStart, sqlState: "28P01",
                naming: ["password authentication failed"])
            expectFast(
                try failure(cluster.dsn(database: "no_such_db", user: Self.user)), .cannotStart, sqlState: "3D000",
                naming: ["no_such_db"])
            // "must be superuser or replication role to start walsender" (15), "permission denied
            // to start WAL sender" (16+).
            let unprivileged = try failure(cluster.dsn(user: "plain", extra: ["password": "plain-password"]))
            expectFast(unprivileged, .cannotStart, sqlState: "42501", naming: [])
            #expect(
                unprivileged.error.message.lowercased().replacingOccurrences(of: " ", with: "").contains("walsender"),
                "\(unprivileged.error)")
            #expect(!(try failure(dsn + " password=wrong").error.description.contains("wrong")))
        }
    }

    @Test(.timeLimit(.minutes(3))) func slotsAndPublicationsTheStreamCannotUse() throws {
        try withCluster { cluster in
            let dsn = cluster.dsn(user: Self.user)
            expectFast(try failure(dsn, slot: "no_such_slot"), .slotMissing, sqlState: nil, naming: ["no_such_slot"])
            expectFast(
                try failure(dsn, publication: "no_such_pub"), .cannotStart, sqlState: "42704",
                naming: ["publication \"no_such_pub\" does not exist"])
            try cluster.psql("SELECT pg_create_physical_replication_slot('physical', true)")
            expectFast(try failure(dsn, slot: "physical"), .cannotStart, sqlState: nil, naming: ["physical slot"])
            try cluster.psql("SELECT pg_create_logical_replication_slot('twophase', 'pgoutput', false, true)")
            expectFast(
                try failure(dsn, slot: "twophase"), .cannotStart, sqlState: nil, naming: ["prepared transactions"])
        }
    }

    @Test(
        .requires(.testDecoding), .timeLimit(.minutes(3)))
    func aSlotOfAnotherPluginIsNamed() throws {
        try withCluster { cluster in
            try cluster.psql("SELECT pg_create_logical_replication_slot('td', 'test_decoding')")
            expectFast(
                try failure(cluster.dsn(user: Self.user), slot: "td"), .cannotStart, sqlState: nil,
                naming: ["plugin test_decoding"])
        }
    }

    /// A server too old for the protocol asked for: its own refusal, at once.
    @Test(.enabled(if: ServerFeatures.current.majorVersion < 16, "PostgreSQL 15 only: later servers speak protocol 4"))
    func aProtocolTheServerLacks() throws {
        try withCluster { cluster in
            expectFast(
                try failure(cluster.dsn(user: Self.user)) { $0.protocolVersion = 4 }, .cannotStart, sqlState: "0A000",
                naming: ["proto_version"])
        }
    }

    /// What reconnecting can cure is retried, each attempt a warning with its cause; a budget by
    /// time ends it.
    @Test(.timeLimit(.minutes(2))) func everyRetryIsAWarningWithItsCause() throws {
        let capture = LogCapture()
        let start = Date()
        // Nothing listens on port 1.
        let (error, _) = try failure("host=127.0.0.1 port=1 user=x dbname=x", logger: capture.logger) {
            $0.reconnect = ChangeStream.ReconnectPolicy(
                maxDuration: .seconds(2), initialDelay: .seconds(0.1), maxDelay: .seconds(0.3))
        }
        #expect(error.kind == .reconnectFailed)
        #expect(error.message.contains("Connection refused"), "\(error)")
        #expect(Date().timeIntervalSince(start) < 6)
        let warnings = capture.lines.withLock { $0 }.filter { $0.hasPrefix("warning replication connection lost") }
        #expect(warnings.count >= 3, "\(capture.lines.withLock { $0 })")
        #expect(warnings.allSatisfy { $0.contains("Connection refused") }, "\(warnings)")
    }
}
