import Foundation
import PGLocalCluster
import Testing

@Suite("pgrepl demo", .serialized)
struct DemoCommandTests {
    @Test(
        "runs end to end on its own cluster, never prints the rollback, leaves nothing behind", .timeLimit(.minutes(3)))
    func throwawayCluster() throws {
        let result = try RunningProcess.pgrepl(["demo", "--duration", "6"]).finish(within: 120)
        #expect(result.status == 0, "\(result)")
        for action in [
            "BEGIN", "INSERT public.orders", "INSERT public.customers", "UPDATE public.orders", "DELETE public.orders",
            "TRUNCATE public.orders", "COMMIT",
        ] {
            #expect(result.stdout.contains(action), "no \(action): \(result)")
        }
        #expect(result.stdout.contains("price=1234.50"), "\(result)")
        #expect(!result.stdout.contains("rolled-back") && !result.stdout.contains("99.99"), "\(result)")
        #expect(result.stderr.contains(" transactions, ") && result.stderr.contains(" changes, lag "), "\(result)")
        try expectClusterGone(result.stderr)
    }

    @Test("--json prints JSON lines", .timeLimit(.minutes(3)))
    func json() throws {
        let result = try RunningProcess.pgrepl(["demo", "--json", "--duration", "5"]).finish(within: 120)
        #expect(result.status == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count > 10, "\(result)")
        var actions = Set<String>()
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            if let action = object?["action"] as? String { actions.insert(action) }
        }
        #expect(actions.isSuperset(of: ["B", "I", "U", "D", "T", "M", "C"]), "\(actions)")
        try expectClusterGone(result.stderr)
    }

    @Test("SIGINT stops it cleanly: status 130, the cluster removed", .timeLimit(.minutes(3)))
    func interrupted() throws {
        let process = try RunningProcess.pgrepl(["demo"])
        defer { process.signal(SIGKILL) }
        try waitFor("the first change") { process.stderr.contains("streaming slot") || !process.isRunning }
        Thread.sleep(forTimeInterval: 1.5)
        process.signal(SIGINT)
        let result = try process.finish(within: 60)
        #expect(result.status == 130, "\(result)")
        #expect(result.stderr.contains("stopped by SIGINT"), "\(result)")
        try expectClusterGone(result.stderr)
    }

    @Test("--dsn uses the given server and drops its schema, publication and slot", .timeLimit(.minutes(3)))
    func givenServer() throws {
        let db = try StreamTestDatabase.shared()
        let result = try RunningProcess.pgrepl(["demo", "--dsn", db.dsn, "--duration", "4"]).finish(within: 120)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("INSERT pgrepl_demo_"), "\(result)")
        #expect(try db.sql("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgrepl_demo_%'").scalar == "0")
        #expect(try db.sql("SELECT count(*) FROM pg_publication WHERE pubname LIKE 'pgrepl_demo_%'").scalar == "0")
        #expect(
            try db.sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pgrepl_demo_%'").scalar == "0")
    }

    /// The cluster folder the demo named on stderr is gone, and no process runs on it.
    private func expectClusterGone(_ stderr: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let folder = try #require(
            stderr.firstMatch(of: #/(/[^\s,]*pglocalcluster\.[A-Za-z0-9]+)/#).map { String($0.output.1) },
            "no cluster folder in: \(stderr)",
            sourceLocation: sourceLocation)
        #expect(
            !FileManager.default.fileExists(atPath: folder), "\(folder) is still there", sourceLocation: sourceLocation)
        // Throws where /proc cannot be read: an empty list would pass.
        let processes = try FileManager.default.contentsOfDirectory(atPath: "/proc")
        let survivors = processes.filter { pid in
            guard Int(pid) != nil, let line = readFile("/proc/\(pid)/cmdline") else { return false }
            return String(decoding: line, as: UTF8.self).contains(folder)
        }
        #expect(survivors.isEmpty, "processes still running on \(folder): \(survivors)", sourceLocation: sourceLocation)
    }
}
