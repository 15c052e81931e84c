import Foundation
import PGLocalCluster
import PGReplication
import Testing

/// Assembled delivery keeps a transaction's changes in memory up to
/// `transactionMemoryLimit` and the rest in a spill file: a large transaction arrives whole,
/// equal to what memory would have held.
@Suite(.serialized) struct SpillTests {
    @Test(arguments: [false, true]) func aLargeTransactionSpillsAndArrivesWhole(streamed: Bool) throws {
        let cluster = try LocalCluster.start(
            LocalCluster.Configuration(
                settings: testClusterConfiguration.settings.merging(["logical_decoding_work_mem": "64kB"]) { $1 }))
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE big (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE big")
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "spill", publications: ["pub"])
        configuration.createSlot = true
        configuration.transactionMemoryLimit = 1 << 20
        if streamed { configuration.streaming = .on }
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected(seconds: 60))
        try cluster.psql(
            "BEGIN; INSERT INTO big SELECT g, repeat('v', 50) || g FROM generate_series(1, 100000) g;"
                + " SAVEPOINT s; INSERT INTO big VALUES (-1, 'rolled back'); ROLLBACK TO s; DELETE FROM big WHERE id <= 10; COMMIT"
        )
        let arrived = running.wait(seconds: 120) { events in
            events.contains { if case .transaction = $0 { true } else { false } }
        }
        #expect(arrived, "\(String(describing: running.error))")
        running.stop()
        guard
            case .transaction(let transaction)? = running.received.first(where: {
                if case .transaction = $0 { true } else { false }
            })
        else { return }
        #expect(transaction.changes.isSpilled)
        #expect(transaction.changes.count == 100_010)
        var next = 1
        var deletes = 0
        for change in transaction.changes {
            switch change {
            case .insert(_, let row):
                #expect(try row["id", as: Int.self] == next)
                next += 1
            case .delete: deletes += 1
            default: Issue.record("unexpected \(change)")
            }
        }
        #expect(next == 100_001 && deletes == 10)
    }
}
