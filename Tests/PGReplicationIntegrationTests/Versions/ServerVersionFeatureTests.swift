import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import Testing

/// What PostgreSQL 17 and 18 added to slots and publications, on a live server.
@Suite struct ServerVersionFeatureTests {
    private func slotFlags(_ slot: String, _ columns: String) throws -> String? {
        try TestServer.sql("SELECT \(columns) FROM pg_replication_slots WHERE slot_name = '\(slot)'").scalar
    }

    /// Every version gate of the suite reads this: it must be the server's, also for a server
    /// given with `PGREPL_TEST_DSN` (where it once read 0, and every gate took the oldest path).
    @Test func theVersionTheGatesReadIsTheServers() throws {
        let number = try #require(try TestServer.sql("SHOW server_version_num").scalar.flatMap { Int($0) })
        #expect(ServerFeatures.current.majorVersion == number / 10000)
    }

    @Test(.requires(postgres: 17))
    func failoverSlotsAreCreatedAndAltered() throws {
        let slot = TestServer.uniqueName("failover")
        defer { TestServer.dropSlot(slot) }
        let connection = try LogicalReplicationConnection(try TestServer.dsn())
        defer { connection.close() }
        let cursor = try connection.cursor()
        try cursor.createReplicationSlot(slot, outputPlugin: "pgoutput", snapshot: .nothing, failover: true)
        #expect(try slotFlags(slot, "failover::text") == "true")
        try cursor.alterReplicationSlot(slot, failover: false)
        #expect(try slotFlags(slot, "failover::text") == "false")
        if ServerFeatures.current.majorVersion >= 18 {
            try cursor.alterReplicationSlot(slot, twoPhase: true)
            #expect(try slotFlags(slot, "two_phase::text") == "true")
        }
        #expect(throws: PGError.self) { try cursor.alterReplicationSlot(slot) }
        let temporary = #expect(throws: PGError.self) {
            try cursor.createReplicationSlot(
                TestServer.uniqueName("tmp"), outputPlugin: "pgoutput", temporary: true, failover: true)
        }
        #expect(temporary?.message.contains("temporary") == true)
    }

    @Test(.enabled(if: ServerFeatures.current.majorVersion < 17, "PostgreSQL 15 and 16 only: 17 has failover slots"))
    func failoverSlotsNameTheVersionTheyNeed() throws {
        let connection = try LogicalReplicationConnection(try TestServer.dsn())
        defer { connection.close() }
        let error = #expect(throws: PGError.self) {
            try connection.cursor().createReplicationSlot(
                TestServer.uniqueName("failover"), outputPlugin: "pgoutput", failover: true)
        }
        #expect(error?.kind == .notSupported)
        #expect(error?.message.contains("PostgreSQL 17") == true)
    }

    @Test(.requires(postgres: 17))
    func theCLICreatesAltersAndShowsFailoverSlots() throws {
        let dsn = try TestServer.dsn()
        let slot = TestServer.uniqueName("cli_failover")
        defer { TestServer.dropSlot(slot) }
        let created = try pgrepl("slot", "create", "--dsn", dsn, "--slot", slot, "--failover")
        #expect(created.status == 0, "\(created)")
        #expect(created.stdout.contains(", failover"))
        var status = try decodeJSON(
            [String: JSONValue].self, try pgrepl("slot", "status", "--dsn", dsn, "--slot", slot, "--json"))
        #expect(status["failover"] == .bool(true))
        #expect(status["synced"] == .bool(false))
        #expect(status["conflicting"] == .bool(false))
        #expect(status["invalidation_reason"] == .null)
        if case .string(let since)? = status["inactive_since"] {
            #expect(since.hasPrefix("20"))
        } else {
            Issue.record("inactive_since: \(String(describing: status["inactive_since"]))")
        }
        let altered = try pgrepl("slot", "alter", "--dsn", dsn, "--slot", slot, "--failover", "off")
        #expect(altered.status == 0, "\(altered)")
        status = try decodeJSON(
            [String: JSONValue].self, try pgrepl("slot", "status", "--dsn", dsn, "--slot", slot, "--json"))
        #expect(status["failover"] == .bool(false))
        let lines = try pgrepl("slot", "status", "--dsn", dsn, "--slot", slot)
        #expect(lines.stdout.contains("failover             no"), "\(lines.stdout)")
        expectFailure(try pgrepl("slot", "alter", "--dsn", dsn, "--slot", slot), status: 1, containing: ["--failover"])
        expectFailure(
            try pgrepl("slot", "create", "--dsn", dsn, "--slot", "x", "--temporary", "--failover"), status: 1,
            containing: ["--temporary", "--failover"])
    }

    /// PostgreSQL 18 publishes stored generated columns when the publication says so.
    @Test(.requires(postgres: 18))
    func generatedColumnsFollowThePublication() throws {
        let table = TestServer.uniqueName("gen")
        try TestServer.sql(
            "CREATE TABLE \(table) (id int PRIMARY KEY, v int, doubled int GENERATED ALWAYS AS (v * 2) STORED)")
        defer { TestServer.dropQuietly("DROP TABLE IF EXISTS \(table) CASCADE") }
        var columns: [Bool: [String]] = [:]
        for publish in [false, true] {
            let slot = "\(table)_\(publish)"
            defer { TestServer.dropSlot(slot) }
            var configuration = ChangeStream.Configuration(
                dsn: try TestServer.dsn(), slot: slot, publications: ["\(table)_pub_\(publish)"])
            configuration.createSlot = true
            configuration.createPublication = .tables([table])
            configuration.publishGeneratedColumns = publish
            configuration.reconnect = .never
            let running = RunningStream(configuration)
            #expect(running.waitConnected())
            try TestServer.sql("INSERT INTO \(table) (id, v) VALUES (\(publish ? 2 : 1), 21)")
            let arrived = running.wait { events in
                events.contains { if case .transaction = $0 { true } else { false } }
            }
            #expect(arrived)
            running.stop()
            for case .transaction(let transaction) in running.received {
                if case .insert(let changed, let row) = transaction.changes.first {
                    columns[publish] = changed.columns.map(\.name)
                    if publish { #expect(try row["doubled", as: Int.self] == 42) }
                }
            }
            TestServer.dropQuietly("DROP PUBLICATION IF EXISTS \(table)_pub_\(publish)")
        }
        #expect(columns[false] == ["id", "v"])
        #expect(columns[true] == ["id", "v", "doubled"])
    }

    @Test(.enabled(if: ServerFeatures.current.majorVersion < 18, "before PostgreSQL 18 only"))
    func publishingGeneratedColumnsNamesTheVersionItNeeds() throws {
        var configuration = ChangeStream.Configuration(
            dsn: try TestServer.dsn(), slot: TestServer.uniqueName("gen"), publications: [TestServer.uniqueName("p")])
        configuration.createPublication = .allTables
        configuration.publishGeneratedColumns = true
        configuration.reconnect = .never
        let error = #expect(throws: ChangeStreamError.self) { try ChangeStream(configuration).consume { _ in } }
        #expect(error?.kind == .cannotStart)
        #expect(error?.underlying?.message.contains("PostgreSQL 18") == true)
    }

    /// `idle_replication_slot_timeout` (PostgreSQL 18) invalidates a slot no one used: the stream
    /// says so with the server's reason, and the CLI shows it.
    @Test(.requires(postgres: 18))
    func anIdleTimeoutInvalidationIsReportedWithItsReason() throws {
        var settings = testClusterConfiguration
        settings.settings["idle_replication_slot_timeout"] = "1s"
        let cluster = try LocalCluster.start(settings)
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION p FOR TABLE t")
        try cluster.psql("SELECT pg_create_logical_replication_slot('idle', 'pgoutput')")
        Thread.sleep(forTimeInterval: 2.2)
        try cluster.psql("CHECKPOINT")
        #expect(
            try cluster.psql("SELECT invalidation_reason FROM pg_replication_slots WHERE slot_name = 'idle'")
                == "idle_timeout")
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "idle", publications: ["p"])
        configuration.reconnect = .never
        let error = #expect(throws: ChangeStreamError.self) { try ChangeStream(configuration).consume { _ in } }
        #expect(error?.kind == .slotInvalidated)
        #expect(error?.message.contains("idle_timeout") == true, "\(String(describing: error))")
        let status = try pgrepl("slot", "status", "--dsn", cluster.dsn(), "--slot", "idle")
        #expect(status.stdout.contains("invalidation_reason  idle_timeout"), "\(status.stdout)")
    }

    /// PostgreSQL 18.x lets a replication user load only the plugins in `output_plugin_libraries`:
    /// the refusal keeps the server's hint, which says what to change.
    @Test(.requires(postgres: 18))
    func anOutputPluginOutsideTheAllowedLibrariesIsRefusedWithTheServersHint() throws {
        let connection = try LogicalReplicationConnection(try TestServer.dsn())
        defer { connection.close() }
        let error = #expect(throws: PGError.self) {
            try connection.cursor().createReplicationSlot(
                TestServer.uniqueName("w2j"), outputPlugin: "wal2json", snapshot: .nothing)
        }
        #expect(error?.sqlState == .insufficientPrivilege)
        #expect(error?.hint?.contains("output_plugin_libraries") == true, "\(String(describing: error))")
        let cli = try pgrepl(
            "slot", "create", "--dsn", try TestServer.dsn(), "--slot", TestServer.uniqueName("w2j"), "--plugin",
            "wal2json")
        #expect(cli.status == 3)
        #expect(cli.stderr.contains("output_plugin_libraries"), "\(cli.stderr)")
    }
}
