import Foundation
import PGLocalCluster
import PGReplication
import Testing

/// `pgrepl stream --two-phase` on a two-phase slot: a prepared transaction is written with a P line
/// in place of its C line, and its COMMIT PREPARED or ROLLBACK PREPARED as a CP or RP line of its
/// own, also across a restart between the PREPARE and the decision (the server then sends only the
/// decision). Nothing rolled back reaches the output as committed.
@Suite(.serialized) struct TwoPhaseCLITests {
    /// Replays the lines: C applies a transaction, P holds it under its gid until CP applies it or
    /// RP drops it.
    static func replay(_ text: String) -> (rows: Set<Int>, held: Set<String>) {
        var rows: Set<Int> = []
        var held: [String: [Int]] = [:]
        var pending: [Int] = []
        for line in text.split(separator: "\n") {
            // A line cut short by a SIGKILL is not JSON; the rows it would hold are checked by the
            // replay's result, so skipping it cannot hide a loss.
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let action = object["action"] as? String
            else { continue }
            let gid = object["gid"] as? String ?? ""
            switch action {
            case "B": pending = []
            case "I":
                let columns = object["columns"] as? [[String: Any]] ?? []
                if let id = columns.first(where: { $0["name"] as? String == "id" })?["value"] as? Int {
                    pending.append(id)
                }
            case "C": rows.formUnion(pending)
            case "P": held[gid] = pending
            case "CP": rows.formUnion(held.removeValue(forKey: gid) ?? [])
            case "RP": held[gid] = nil
            default: break
            }
        }
        return (rows, Set(held.keys))
    }

    /// A test cluster that allows prepared transactions.
    static func startCluster() throws -> LocalCluster {
        var configuration = testClusterConfiguration
        configuration.settings["max_prepared_transactions"] = "5"
        return try LocalCluster.start(configuration)
    }

    static func count(_ text: String, _ prefix: String) -> Int {
        text.split(separator: "\n").filter { $0.hasPrefix(prefix) }.count
    }

    @Test(.timeLimit(.minutes(3))) func preparedTransactionsAcrossARestart() throws {
        let cluster = try Self.startCluster()
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE tp (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE tp")
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let output = folder + "/out.jsonl"
        let command = [
            "stream", "--dsn", cluster.dsn(), "--slot", "tp", "--publication", "pub", "--create-slot", "--two-phase",
            "--output", output, "--status-interval", "1",
        ]
        var process = try RunningProcess.pgrepl(command)
        #expect(try eventually { try cluster.psql("SELECT count(*) FROM pg_replication_slots") == "1" })
        try cluster.psql("INSERT INTO tp VALUES (1, 'committed')")
        try cluster.psql("BEGIN; INSERT INTO tp VALUES (2, 'to commit'); PREPARE TRANSACTION 'g_commit'")
        try cluster.psql("BEGIN; INSERT INTO tp VALUES (3, 'to roll back'); PREPARE TRANSACTION 'g_rollback'")
        let prepared = try LSN(cluster.psql("SELECT pg_current_wal_lsn()"))
        #expect(eventually { Self.count(readTextFile(output), "{\"action\":\"P\"") == 2 }, "\(process.stderr)")
        // The PREPAREs are acknowledged: after the restart the server sends only the decisions.
        #expect(
            try eventually {
                try LSN(cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots")) >= prepared
            })
        process.signal(SIGTERM)
        #expect(try process.finish(within: 30).status == 130)

        // The decisions while nothing streams, then a restart.
        try cluster.psql("COMMIT PREPARED 'g_commit'")
        try cluster.psql("ROLLBACK PREPARED 'g_rollback'")
        try cluster.psql("INSERT INTO tp VALUES (4, 'marker')")
        process = try RunningProcess.pgrepl(command)
        defer { process.signal(SIGKILL) }
        #expect(eventually { Self.replay(readTextFile(output)).rows.contains(4) }, "\(process.stderr)")
        process.signal(SIGTERM)
        _ = try process.finish(within: 30)

        let text = readTextFile(output)
        #expect(Self.count(text, "{\"action\":\"P\",\"gid\":\"g_commit\"") == 1, "\(text)")
        #expect(Self.count(text, "{\"action\":\"P\",\"gid\":\"g_rollback\"") == 1, "\(text)")
        #expect(Self.count(text, "{\"action\":\"CP\",\"gid\":\"g_commit\"") == 1, "\(text)")
        #expect(Self.count(text, "{\"action\":\"RP\",\"gid\":\"g_rollback\"") == 1, "\(text)")
        let (rows, held) = Self.replay(text)
        #expect(rows == [1, 2, 4], "\(text)")
        #expect(held.isEmpty)
        let table = Set(try cluster.psql("SELECT id FROM tp").split(separator: "\n").compactMap { Int($0) })
        #expect(rows == table)

        // Without --two-phase the slot is refused, with what to do.
        let refused = try pgrepl(["stream", "--dsn", cluster.dsn(), "--slot", "tp", "--publication", "pub"])
        expectFailure(refused, status: 1, containing: ["prepared transactions", "--two-phase"])
    }

    /// The text format says the same in words.
    @Test(.timeLimit(.minutes(2))) func textLinesNameTheDecision() throws {
        let cluster = try Self.startCluster()
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE tp (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE tp")
        try cluster.psql("SELECT pg_create_logical_replication_slot('tp', 'pgoutput', false, true)")
        try cluster.psql("BEGIN; INSERT INTO tp VALUES (1); PREPARE TRANSACTION 'g1'")
        try cluster.psql("ROLLBACK PREPARED 'g1'")
        try cluster.psql("BEGIN; INSERT INTO tp VALUES (2); PREPARE TRANSACTION 'g2'")
        try cluster.psql("COMMIT PREPARED 'g2'")
        let end = try cluster.psql("SELECT pg_current_wal_lsn()")
        let result = try pgrepl([
            "stream", "--dsn", cluster.dsn(), "--slot", "tp", "--publication", "pub", "--two-phase", "--format", "text",
            "--end", end,
        ])
        #expect(result.status == 0, "\(result)")
        // g1 was rolled back before it was decoded: PostgreSQL 18 skips it whole; earlier versions
        // may send its PREPARE, and then its ROLLBACK PREPARED.
        if result.stdout.contains(" PREPARE TRANSACTION g1 next ") {
            #expect(result.stdout.contains(" ROLLBACK PREPARED g1 next "), "\(result.stdout)")
        }
        #expect(result.stdout.contains(" PREPARE TRANSACTION g2 next "), "\(result.stdout)")
        #expect(result.stdout.contains(" COMMIT PREPARED g2 next "), "\(result.stdout)")
        #expect(
            !result.stdout.contains(" COMMIT next "), "a prepared transaction written as committed: \(result.stdout)")
    }

    /// Raw runs on the same path: a prepared transaction's messages (b, I, P) and its decision (K)
    /// are written and acknowledged; a rerun starts after them.
    @Test(.timeLimit(.minutes(2))) func rawLinesCarryThePrepareAndTheDecision() throws {
        let cluster = try Self.startCluster()
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE tp (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE tp")
        try cluster.psql("SELECT pg_create_logical_replication_slot('tp', 'pgoutput', false, true)")
        try cluster.psql("BEGIN; INSERT INTO tp VALUES (1); PREPARE TRANSACTION 'g1'")
        try cluster.psql("COMMIT PREPARED 'g1'")
        let end = try cluster.psql("SELECT pg_current_wal_lsn()")
        let command = [
            "stream", "--dsn", cluster.dsn(), "--slot", "tp", "--publication", "pub", "--two-phase", "--format", "raw",
            "--end", end,
        ]
        let result = try pgrepl(command)
        #expect(result.status == 0, "\(result)")
        let tags = result.stdout.split(separator: "\n").compactMap { line in
            line.split(separator: " ").last.flatMap { hexBytes($0)?.first }.map { Character(UnicodeScalar($0)) }
        }
        #expect(String(tags) == "bRIPK", "\(result.stdout)")
        let again = try pgrepl(command)
        #expect(again.status == 0 && again.stdout.isEmpty, "\(again)")
    }
}
