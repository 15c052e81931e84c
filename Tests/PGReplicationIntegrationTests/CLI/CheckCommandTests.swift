import Foundation
import PGLocalCluster
import PGReplication
import Testing

/// `pgrepl check`: one test per finding, and a sound setup that exits 0.
@Suite("pgrepl check")
struct CheckCommandTests {
    /// The findings of a run, by check, as JSON objects.
    private func findings(_ arguments: [String]) throws -> (status: Int32, findings: [[String: JSONValue]]) {
        let result = try RunningProcess.pgrepl(["check"] + arguments + ["--json"]).finish()
        let parsed = try JSONDecoder().decode([[String: JSONValue]].self, from: Data(result.stdout.utf8))
        return (result.status, parsed)
    }

    private func levels(_ findings: [[String: JSONValue]], check: String) -> [String] {
        findings.filter { $0["check"] == .string(check) }.compactMap {
            if case .string(let level)? = $0["level"] { return level }
            return nil
        }
    }

    private func message(_ findings: [[String: JSONValue]], check: String, level: String = "error") -> String {
        findings.first { $0["check"] == .string(check) && $0["level"] == .string(level) }.flatMap {
            if case .string(let message)? = $0["message"] { return message }
            return nil
        } ?? ""
    }

    @Test("a sound setup: every check ok, exit 0")
    func sound() throws {
        let table = try TestServer.makeTable("chk")
        try TestServer.sql("CREATE PUBLICATION \(table)_pub FOR TABLE \(table)")
        try TestServer.sql("SELECT pg_create_logical_replication_slot('\(table)_slot', 'pgoutput')")
        defer {
            TestServer.dropSlot("\(table)_slot")
            TestServer.dropQuietly("DROP PUBLICATION \(table)_pub; DROP TABLE \(table)")
        }
        let (status, found) = try findings([
            "--dsn", try TestServer.dsn(), "--publication", "\(table)_pub", "--slot", "\(table)_slot",
        ])
        #expect(status == 0, "\(found)")
        #expect(!found.contains { $0["level"] == .string("error") })
        for check in ["wal_level", "slots", "senders", "role", "publication", "slot"] {
            #expect(levels(found, check: check).contains("ok"), "\(check): \(found)")
        }
        #expect(levels(found, check: "version") == ["info"])
        #expect(
            message(found, check: "version", level: "info").contains(
                "PostgreSQL \(ServerFeatures.current.majorVersion)"))
        let lines = try pgrepl("check", "--dsn", try TestServer.dsn(), "--publication", "\(table)_pub")
        #expect(lines.status == 0)
        #expect(lines.stdout.contains("ok      wal_level: wal_level is logical"), "\(lines.stdout)")
    }

    @Test("wal_level = replica is an error")
    func walLevel() throws {
        var configuration = testClusterConfiguration
        configuration.settings["wal_level"] = "replica"
        let cluster = try LocalCluster.start(configuration)
        defer { cluster.destroy() }
        let (status, found) = try findings(["--dsn", cluster.dsn()])
        #expect(status == 5)
        #expect(message(found, check: "wal_level").contains("wal_level is replica"))
        let lines = try RunningProcess.pgrepl(["check", "--dsn", cluster.dsn()]).finish()
        #expect(lines.status == 5)
        #expect(lines.stdout.contains("error   wal_level:"))
        #expect(lines.stderr.contains("would stop replication"))
    }

    @Test("a published table that cannot replicate UPDATE and DELETE is an error", arguments: ["no key", "nothing"])
    func replicaIdentity(kind: String) throws {
        let table = TestServer.uniqueName("chk_ri")
        try TestServer.sql(
            kind == "no key"
                ? "CREATE TABLE \(table) (id int, v text)"
                : "CREATE TABLE \(table) (id int PRIMARY KEY, v text); ALTER TABLE \(table) REPLICA IDENTITY NOTHING")
        try TestServer.sql("CREATE PUBLICATION \(table)_pub FOR TABLE \(table)")
        defer { TestServer.dropQuietly("DROP PUBLICATION \(table)_pub; DROP TABLE \(table)") }
        let (status, found) = try findings(["--dsn", try TestServer.dsn(), "--publication", "\(table)_pub"])
        #expect(status == 5)
        #expect(message(found, check: "replica_identity").contains(table), "\(found)")
        // Inserts only: nothing to replicate for updates and deletes, so no finding.
        try TestServer.sql("ALTER PUBLICATION \(table)_pub SET (publish = 'insert')")
        let (insertsOnly, _) = try findings(["--dsn", try TestServer.dsn(), "--publication", "\(table)_pub"])
        #expect(insertsOnly == 0)
    }

    @Test("a row filter outside the replica identity is an error")
    func rowFilter() throws {
        let table = TestServer.uniqueName("chk_rf")
        try TestServer.sql("CREATE TABLE \(table) (id int PRIMARY KEY, region text, v text)")
        try TestServer.sql("CREATE PUBLICATION \(table)_pub FOR TABLE \(table) WHERE (region = 'eu')")
        try TestServer.sql("CREATE PUBLICATION \(table)_ok FOR TABLE \(table) WHERE (id > 10)")
        defer { TestServer.dropQuietly("DROP PUBLICATION \(table)_pub, \(table)_ok; DROP TABLE \(table)") }
        let (status, found) = try findings(["--dsn", try TestServer.dsn(), "--publication", "\(table)_pub"])
        #expect(status == 5)
        #expect(message(found, check: "row_filter").contains("region"), "\(found)")
        let (okStatus, _) = try findings(["--dsn", try TestServer.dsn(), "--publication", "\(table)_ok"])
        #expect(okStatus == 0)
    }

    @Test("a column list without the replica identity is an error")
    func columnList() throws {
        let table = TestServer.uniqueName("chk_cl")
        try TestServer.sql("CREATE TABLE \(table) (id int PRIMARY KEY, v text, secret text)")
        try TestServer.sql("CREATE PUBLICATION \(table)_pub FOR TABLE \(table) (v)")
        defer { TestServer.dropQuietly("DROP PUBLICATION \(table)_pub; DROP TABLE \(table)") }
        let (status, found) = try findings(["--dsn", try TestServer.dsn(), "--publication", "\(table)_pub"])
        #expect(status == 5)
        #expect(message(found, check: "column_list").contains("id"), "\(found)")
    }

    @Test("a role without REPLICATION, and a missing SELECT privilege")
    func role() throws {
        let role = TestServer.uniqueName("chk_role")
        let table = TestServer.uniqueName("chk_priv")
        try TestServer.sql("CREATE ROLE \(role) LOGIN")
        try TestServer.sql(
            "CREATE TABLE \(table) (id int PRIMARY KEY); CREATE PUBLICATION \(table)_pub FOR TABLE \(table)")
        defer { TestServer.dropQuietly("DROP PUBLICATION \(table)_pub; DROP TABLE \(table); DROP ROLE \(role)") }
        let (status, found) = try findings([
            "--dsn", try TestServer.dsn("user=\(role)"), "--publication", "\(table)_pub",
        ])
        #expect(status == 5)
        #expect(message(found, check: "role").contains(role))
        #expect(levels(found, check: "privileges") == ["warning"], "\(found)")
    }

    @Test("no free replication slot is an error")
    func slots() throws {
        var configuration = testClusterConfiguration
        configuration.settings["max_replication_slots"] = "1"
        let cluster = try LocalCluster.start(configuration)
        defer { cluster.destroy() }
        try cluster.psql("SELECT pg_create_logical_replication_slot('only', 'pgoutput')")
        let (status, found) = try findings(["--dsn", cluster.dsn()])
        #expect(status == 5)
        #expect(message(found, check: "slots").contains("all 1 replication slots"))
        // The slot to use exists: no slot is needed.
        let (withSlot, _) = try findings(["--dsn", cluster.dsn(), "--slot", "only"])
        #expect(withSlot == 0)
    }

    @Test("a missing publication is an error; a missing or invalidated slot is reported")
    func publicationAndSlot() throws {
        let (status, found) = try findings([
            "--dsn", try TestServer.dsn(), "--publication", "no_such_pub", "--slot", "no_such_slot",
        ])
        #expect(status == 5)
        #expect(message(found, check: "publication").contains("no_such_pub"))
        #expect(levels(found, check: "slot") == ["warning"])
        let physical = TestServer.uniqueName("chk_phys")
        try TestServer.sql("SELECT pg_create_physical_replication_slot('\(physical)')")
        defer { TestServer.dropSlot(physical) }
        let (physicalStatus, physicalFound) = try findings(["--dsn", try TestServer.dsn(), "--slot", physical])
        #expect(physicalStatus == 5)
        #expect(message(physicalFound, check: "slot").contains("physical"))
    }

    @Test("output_plugin_libraries without pgoutput is an error", .requires(postgres: 18))
    func pluginLibraries() throws {
        var configuration = testClusterConfiguration
        configuration.settings["output_plugin_libraries"] = "test_decoding"
        let cluster = try LocalCluster.start(configuration)
        defer { cluster.destroy() }
        let (status, found) = try findings(["--dsn", cluster.dsn()])
        #expect(status == 5)
        #expect(message(found, check: "output_plugin_libraries").contains("test_decoding"), "\(found)")
        // A role that may not read the setting is told so.
        try cluster.psql("CREATE ROLE repl LOGIN REPLICATION")
        let (replStatus, replFound) = try findings(["--dsn", cluster.dsn(user: "repl")])
        #expect(replStatus == 0)
        #expect(levels(replFound, check: "output_plugin_libraries") == ["warning"], "\(replFound)")
    }

    @Test("no free WAL sender is an error")
    func senders() throws {
        var configuration = testClusterConfiguration
        configuration.settings["max_wal_senders"] = "1"
        let cluster = try LocalCluster.start(configuration)
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION p FOR TABLE t")
        try cluster.psql("SELECT pg_create_logical_replication_slot('s', 'pgoutput')")
        var stream = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "s", publications: ["p"])
        stream.reconnect = .never
        let running = RunningStream(stream)
        defer { running.stop() }
        #expect(running.waitConnected())
        let (status, found) = try findings(["--dsn", cluster.dsn()])
        #expect(status == 5)
        #expect(message(found, check: "senders").contains("all 1 WAL senders"), "\(found)")
    }

    /// The catalog's one reading of an invalidated slot: `pgrepl check`, `slot list`, `slot
    /// status` and the stream's diagnosis give the same reason, in PostgreSQL 17's words on
    /// every version (15 and 16 have no invalidation_reason column: `wal_status = lost`).
    @Test("an invalidated slot is an error, with one reason everywhere")
    func invalidatedSlot() throws {
        var configuration = testClusterConfiguration
        configuration.settings.merge(["max_slot_wal_keep_size": "32MB", "wal_keep_size": "0", "max_wal_size": "64MB"]) {
            $1
        }
        let cluster = try LocalCluster.start(configuration)
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE filler (id int, pad text)")
        try cluster.psql("SELECT pg_create_logical_replication_slot('old', 'pgoutput')")
        let lost = try eventually(seconds: 120) {
            try cluster.psql(
                "INSERT INTO filler SELECT g, repeat(md5(g::text), 60) FROM generate_series(1, 4000) g; SELECT pg_switch_wal(); CHECKPOINT"
            )
            return try cluster.psql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'old'") == "lost"
        }
        #expect(lost)
        let (status, found) = try findings(["--dsn", cluster.dsn(), "--slot", "old"])
        #expect(status == 5)
        #expect(message(found, check: "slot").contains("was invalidated (wal_removed)"), "\(found)")
        let list = try pgrepl("slot", "list", "--dsn", cluster.dsn(), "--json")
        let slots = try JSONDecoder().decode([[String: JSONValue]].self, from: Data(list.stdout.utf8))
        #expect(slots.first?["invalidation_reason"] == .string("wal_removed"), "\(list.stdout)")
        let table = try pgrepl("slot", "list", "--dsn", cluster.dsn())
        #expect(table.stdout.contains("wal_removed"), "\(table.stdout)")
        let one = try pgrepl("slot", "status", "--dsn", cluster.dsn(), "--slot", "old")
        #expect(
            one.stdout.split(separator: "\n").contains {
                $0.hasPrefix("invalidation_reason") && $0.hasSuffix(" wal_removed")
            },
            "\(one.stdout)")
        try cluster.psql("CREATE PUBLICATION pub FOR TABLE filler")
        var stream = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "old", publications: ["pub"])
        stream.reconnect = .never
        #expect {
            try ChangeStream(stream).consume { _ in }
        } throws: { error in
            guard let error = error as? ChangeStreamError else { return false }
            return error.kind == .slotInvalidated && error.message.contains("was invalidated (wal_removed)")
        }
    }
}
