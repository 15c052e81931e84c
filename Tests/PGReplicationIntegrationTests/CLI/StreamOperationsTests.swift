import Foundation
import PGLocalCluster
import PGReplication
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `pgrepl stream`: log rotation on SIGHUP, schema-change lines, the heartbeat option.
@Suite("pgrepl stream operations", .serialized)
struct StreamOperationsTests {
    private func waitFor(_ what: String, seconds: Double = 30, _ condition: () throws -> Bool) rethrows {
        let held = try eventually(seconds: seconds, condition)
        #expect(held, "timed out waiting for \(what)")
    }

    @Test("SIGHUP reopens --output: a rotated file loses nothing", .timeLimit(.minutes(2)))
    func rotation() throws {
        let fixture = try StreamFixture()
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let file = folder + "/changes.jsonl"
        let process = try RunningProcess.pgrepl([
            "stream", "--dsn", try TestServer.dsn(), "--slot", fixture.slot, "--publication", fixture.publication,
            "--output", file, "--status-interval", "1", "-o", "include-lsn=1",
        ])
        defer { process.signal(SIGKILL) }
        func inserts(_ path: String) -> Int { readTextFile(path).components(separatedBy: "\"action\":\"I\"").count - 1 }
        for round in 0..<3 {
            try fixture.insert(10, value: "r\(round)")
            waitFor("round \(round) in the file") { inserts(file) == 10 }
            try FileManager.default.moveItem(atPath: file, toPath: "\(file).\(round)")
            process.signal(SIGHUP)
        }
        // Rotated while idle: the next write goes to a new file.
        try fixture.insert(10, value: "last")
        waitFor("the last rows in a new file") { inserts(file) == 10 }
        process.signal(SIGTERM)
        let ended = try process.finish(within: 30)
        #expect(ended.status == 130, "\(ended)")
        let all = (0..<3).map { "\(file).\($0)" } + [file]
        #expect(all.map(inserts) == [10, 10, 10, 10])
        // Acknowledged only what is in the files.
        let lines = all.flatMap { readTextFile($0).split(separator: "\n") }
        let lastCommit = try #require(lines.last { $0.contains("\"action\":\"C\"") })
        let nextLSN = try #require(
            lastCommit.range(of: "\"nextlsn\":\"").map { lastCommit[$0.upperBound...].prefix { $0 != "\"" } })
        #expect(try TestServer.confirmedFlush(fixture.slot) >= LSN(String(nextLSN)))
    }

    @Test(
        "json and debezium: the catalog connection is opened again after a server restart", .timeLimit(.minutes(3)),
        arguments: ["json", "debezium"])
    func catalogConnectionSurvivesARestart(format: String) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION p FOR TABLE t")
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let file = folder + "/out.jsonl"
        let process = try RunningProcess.pgrepl([
            "stream", "--dsn", cluster.dsn(), "--slot", "restart", "--create-slot", "--publication", "p",
            "--format", format, "--output", file, "--status-interval", "1",
        ])
        defer { process.signal(SIGKILL) }
        // Before pgrepl made the slot the query answers nothing, not an error: a failure is real.
        try waitFor("the stream to start") {
            try cluster.psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'restart'") == "t"
        }
        try cluster.psql("INSERT INTO t VALUES (1, 'before')")
        waitFor("the first row") { readTextFile(file).contains("before") }
        try cluster.restart()
        // A new shape: the encoder reads the table's facts again, on a new catalog connection.
        try cluster.psql("ALTER TABLE t ADD COLUMN n int")
        // A value no line has otherwise: every Debezium line contains "after".
        try cluster.psql("INSERT INTO t VALUES (2, 'post-restart', 7)")
        waitFor("the row after the restart", seconds: 60) { readTextFile(file).contains("post-restart") }
        #expect(
            process.isRunning && readTextFile(file).contains("post-restart"),
            "\(process.stderr)\n\(readTextFile(file))")
        process.signal(SIGTERM)
        let ended = try process.finish(within: 30)
        #expect(ended.status == 130, "\(ended)")
    }

    @Test("--schema-changes writes an S line before the first row of the new shape; off by default")
    func schemaChanges() throws {
        let fixture = try StreamFixture()
        try fixture.insert(1, value: "before")
        try TestServer.sql("ALTER TABLE \(fixture.table) ADD COLUMN n int")
        try TestServer.sql("INSERT INTO \(fixture.table) (v, n) VALUES ('after', 5)")
        let end = try LSN(try TestServer.sql("SELECT pg_current_wal_lsn()").scalar ?? "")
        let copy = "\(fixture.slot)_copy"
        try TestServer.sql("SELECT pg_copy_logical_replication_slot('\(fixture.slot)', '\(copy)')")
        defer { TestServer.dropSlot(copy) }
        let base = [
            "stream", "--dsn", try TestServer.dsn(), "--publication", fixture.publication, "--end", end.description,
        ]
        let with = try RunningProcess.pgrepl(base + ["--slot", fixture.slot, "--schema-changes"]).finish()
        #expect(with.status == 0, "\(with.stderr)")
        let actions = with.stdout.split(separator: "\n").compactMap { line in
            line.range(of: "\"action\":\"").map { String(line[$0.upperBound...].prefix(1)) }
        }
        #expect(actions == ["B", "I", "C", "B", "S", "I", "C"], "\(with.stdout)")
        #expect(with.stdout.contains("\"added\":[\"n\"]"))
        let without = try RunningProcess.pgrepl(base + ["--slot", copy]).finish()
        #expect(without.status == 0)
        #expect(!without.stdout.contains("\"action\":\"S\""))
    }

    @Test("--heartbeat: heartbeats never reach the output")
    func heartbeat() throws {
        let fixture = try StreamFixture()
        try fixture.insert(1, value: "row")
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let file = folder + "/changes.jsonl"
        // A second slot sees what pgrepl wrote into the WAL: the heartbeats must have been sent.
        let probe = fixture.slot + "_probe"
        try TestServer.sql("SELECT pg_create_logical_replication_slot('\(probe)', 'pgoutput')")
        defer { TestServer.dropSlot(probe) }
        let process = try RunningProcess.pgrepl([
            "stream", "--dsn", try TestServer.dsn(), "--slot", fixture.slot, "--publication", fixture.publication,
            "--output", file, "--heartbeat", "0.2",
        ])
        defer { process.signal(SIGKILL) }
        waitFor("the row") { readTextFile(file).contains("\"row\"") }
        Thread.sleep(forTimeInterval: 1.5)
        process.signal(SIGTERM)
        let ended = try process.finish(within: 30)
        #expect(ended.status == 130, "\(ended)")
        let sent = try TestServer.sql(
            """
            SELECT count(*) FROM pg_logical_slot_peek_binary_changes('\(probe)', NULL, NULL, 'proto_version', '1',
              'publication_names', '\(fixture.publication)', 'messages', 'true')
            WHERE position('\(ChangeStream.Heartbeat.prefix)'::bytea IN data) > 0
            """
        ).scalar.flatMap { Int($0) }
        #expect((sent ?? 0) >= 3, "heartbeats sent: \(String(describing: sent))")
        #expect(!readTextFile(file).contains("pgrepl.heartbeat"))
        #expect(!ended.stderr.contains("stalled"))
        expectFailure(
            try RunningProcess.pgrepl([
                "stream", "--dsn", try TestServer.dsn(), "--slot", fixture.slot, "--publication", fixture.publication,
                "--heartbeat", "0",
            ]).finish(), status: 1, containing: ["--heartbeat"])
    }
}
