import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// ChangeStream as a swift-service-lifecycle Service: SIGTERM under load, in a real process.
@Suite(.serialized) struct ServiceTests {
    /// A consumer process runs the stream in a ServiceGroup (SIGTERM is a graceful shutdown) and
    /// writes each transaction it handles; it is stopped with SIGTERM while a writer commits.
    /// The slot then covers exactly what was handled, and a second run starts after it: nothing
    /// handled comes again, nothing committed is missing.
    @Test(.timeLimit(.minutes(3)))
    func sigtermUnderLoadAcknowledgesTheLastHandledTransactionAndRepeatsNothing() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE tt (id bigint PRIMARY KEY, v text); CREATE PUBLICATION tt_pub FOR TABLE tt")
        try cluster.psql("SELECT pg_create_logical_replication_slot('tt_svc', 'pgoutput')")
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let file = folder + "/service.jsonl"
        let binary = try PGReplBinary.sibling("pgrepl-torture-consumer")
        let arguments = [cluster.dsn(), "tt_svc", "tt_pub", file, "mode=service"]

        // A refused insert fails the test (`stop()`).
        let writer = ConcurrentWriter(dsn: cluster.dsn()) { connection, round in
            try connection.execute("INSERT INTO tt VALUES (\(round + 1), 'v')")
        }
        let first = try RunningProcess(binary, arguments)
        let deadline = Date().addingTimeInterval(30)
        while readTextFile(file).split(separator: "\n").count < 200, Date() < deadline { usleep(20_000) }
        first.signal(SIGTERM)
        let ended = try first.finish(within: 30)
        #expect(ended.status == 0, "\(ended)")
        writer.stop()

        let handled = try TortureSignature.read(readTextFile(file))
        #expect(handled.count >= 200)
        let lastEnd = try LSN(try #require(lastEndLSN(readTextFile(file))))
        let confirmed = try LSN(
            try cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'tt_svc'"))
        // The last handled transaction is acknowledged (keepalives may have moved the slot past it
        // only when nothing else was read).
        #expect(confirmed >= lastEnd)
        let committed = Int(try cluster.psql("SELECT count(*) FROM tt")) ?? 0

        // The second run: from the slot's position, with the rest.
        let end = try LSN(try cluster.psql("SELECT pg_current_wal_lsn()"))
        try cluster.psql("INSERT INTO tt VALUES (-1, 'end')")
        let restartFile = folder + "/restart.jsonl"
        let second = try RunningProcess(
            binary, [cluster.dsn(), "tt_svc", "tt_pub", restartFile, "end=\(end)"])
        let secondEnded = try second.finish(within: 60)
        #expect(secondEnded.status == 0, "\(secondEnded)")
        let again = try TortureSignature.read(readTextFile(restartFile))
        let handledXIDs = Set(handled.map(\.0))
        let repeated = again.filter { handledXIDs.contains($0.0) }
        #expect(repeated.isEmpty, "\(repeated.count) handled transactions came again")
        let ids = Set((handled + again).flatMap { $0.1.ops }.compactMap { Int($0.dropFirst()) })
        let missing = (1...max(1, committed)).filter { !ids.contains($0) }
        #expect(missing.isEmpty, "committed and never delivered: \(missing.prefix(10))")
    }

    private func lastEndLSN(_ text: String) -> String? {
        guard let line = text.split(separator: "\n").last, let range = line.range(of: "\"end\":\"") else { return nil }
        return String(line[range.upperBound...].prefix { $0 != "\"" })
    }
}
