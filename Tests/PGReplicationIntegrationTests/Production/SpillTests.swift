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
        let first = running.received.first { if case .transaction = $0 { true } else { false } }
        guard case .transaction(let transaction)? = first else {
            Issue.record("no transaction arrived")
            return
        }
        // The server streamed it in progress only when asked to: both paths are walked.
        #expect(transaction.isStreamed == streamed)
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

    /// With an async consumer, the events waiting in the buffer and the transaction being
    /// assembled share the one memory budget: while a slow consumer lets 20 transactions of
    /// about a third of the budget each pile up, at most the budget stays in memory and the rest
    /// spills (the buffer's 256 events would otherwise hold 20 of them in memory, and 256 of the
    /// default 64 MiB 16 GiB). Every transaction still arrives whole.
    @Test func theBufferAndTheAssemblerShareTheMemoryBudget() async throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE big (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE big")
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "budget", publications: ["pub"])
        configuration.createSlot = true
        let budget = 4 << 20
        configuration.transactionMemoryLimit = budget
        let stream = ChangeStream(configuration)
        var iterator = stream.events().makeAsyncIterator()
        // The stream starts with the first next(); once it streams, a marker makes that return.
        let marker = Task {
            for _ in 0..<600 where !stream.metrics.isConnected { try await Task.sleep(for: .milliseconds(100)) }
            try cluster.psql("INSERT INTO big VALUES (0, 'start')")
        }
        let first = try await iterator.next()
        try await marker.value
        guard case .transaction = first else {
            Issue.record("no first transaction: \(String(describing: first))")
            return
        }
        // 20 transactions of 2,000 rows (about 1.3 MiB each as the budget counts them).
        for round in 1...20 {
            try cluster.psql(
                "INSERT INTO big SELECT g, repeat('v', 80) FROM generate_series(\(round * 10_000), \(round * 10_000 + 1_999)) g"
            )
        }
        // The consumer is slow: everything is decoded and buffered before it reads on.
        try await Task.sleep(for: .seconds(5))
        var inMemory: [Int] = []
        var spilled = 0
        while inMemory.count + spilled < 20, let event = try await iterator.next() {
            guard case .transaction(let transaction) = event else { continue }
            #expect(transaction.changes.count == 2_000)
            if transaction.changes.isSpilled { spilled += 1 } else { inMemory.append(transaction.changes.memoryBytes) }
            #expect(transaction.changes.readFailure == nil)
        }
        stream.stop()
        #expect(inMemory.count + spilled == 20)
        #expect(spilled >= 10, "\(spilled) of 20 transactions spilled; in memory: \(inMemory)")
        #expect(inMemory.allSatisfy { $0 <= budget })
    }
}
