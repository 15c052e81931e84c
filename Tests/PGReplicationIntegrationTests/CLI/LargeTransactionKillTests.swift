import Foundation
import PGLocalCluster
import PGReplication
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `pgrepl stream` writes a transaction's rows as they arrive. Killed with SIGKILL in the
/// middle of a 1M-row transaction, its output ends with that transaction's B line and part of
/// its rows; the restart repeats the transaction from its B line. Every committed transaction
/// is in the output whole, and the partial one is recognisable: a B line followed by another B
/// line before any C line.
@Suite(.serialized) struct LargeTransactionKillTests {
    @Test(.timeLimit(.minutes(8))) func sigkillInTheMiddleOfAMillionRowTransaction() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE big (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE big")
        try cluster.psql("SELECT pg_create_logical_replication_slot('kill', 'pgoutput')")
        try cluster.psql("INSERT INTO big VALUES (-1, 'before')")
        try cluster.psql("INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 1000000) g")
        try cluster.psql("INSERT INTO big VALUES (-2, 'after')")
        let end = try LSN(
            try cluster.psql("SELECT pg_current_wal_lsn()").trimmingCharacters(in: .whitespacesAndNewlines))
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let file = folder + "/out.jsonl"
        let arguments = [
            "stream", "--dsn", cluster.dsn(), "--slot", "kill", "--publication", "pub", "--output", file,
            "-o", "include-xids=1", "--status-interval", "1",
        ]
        func lines() -> [Substring] { readTextFile(file).split(separator: "\n") }
        func count(_ action: String) -> Int {
            readTextFile(file).components(separatedBy: "{\"action\":\"\(action)\"").count - 1
        }
        let first = try RunningProcess.pgrepl(arguments)
        defer { first.signal(SIGKILL) }
        // In the middle of the large transaction: many of its rows written, its C line not yet.
        #expect(eventually(seconds: 180) { count("I") >= 200_000 || !first.isRunning }, "\(first.stderr)")
        // Alive at the measurement: a run that died (of OOM, say) must fail here, not pass.
        #expect(first.isRunning, "pgrepl ended before the kill: \(first.stderr)")
        let peak = try #require(Self.peakRSS(first.pid), "no peak RSS readable for pgrepl")
        first.signal(SIGKILL)
        let killed = try first.finish(within: 10)
        #expect(killed.status == 128 + SIGKILL, "\(killed)")
        #expect(count("C") == 1, "the large transaction was complete before the kill")
        // Constant memory while the transaction streams through (a debug build: generous bound).
        #expect(peak < 200 << 20, "peak RSS \(peak) bytes")
        let second = try RunningProcess.pgrepl(arguments + ["--end", "\(end)"]).finish(within: 300)
        #expect(second.status == 0, "\(second)")

        // B … C groups; a B before the previous group's C marks a transaction cut short.
        var complete: [(xid: String, rows: Int)] = []
        var partial: [String] = []
        var open: (xid: String, rows: Int)?
        for line in lines() {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            let xid = "\(object["xid"] ?? "?")"
            switch object["action"] as? String {
            case "B":
                if let cut = open { partial.append(cut.xid) }
                open = (xid, 0)
            case "I": open?.rows += 1
            case "C":
                if let done = open { complete.append(done) }
                open = nil
            default: break
            }
        }
        #expect(open == nil)
        #expect(complete.map(\.rows) == [1, 1_000_000, 1], "\(complete.map(\.rows))")
        #expect(partial.count == 1 && partial.first == complete[1].xid, "\(partial)")
    }

    /// VmHWM of a process, in bytes.
    static func peakRSS(_ pid: pid_t) -> Int? {
        let status = readTextFile("/proc/\(pid)/status")
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }
}
