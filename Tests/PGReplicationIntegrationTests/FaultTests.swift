import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Synchronization
import Testing

/// Tests that stop, crash and restart a server run on a cluster of their own.
@Suite(.serialized) struct FaultTests {
    func privateCluster(_ settings: [String: String] = [:]) throws -> LocalCluster {
        var configuration = testClusterConfiguration
        configuration.settings.merge(settings) { $1 }
        return try LocalCluster.start(configuration)
    }

    @Test(.requires(.testDecoding)) func fastShutdownIsACleanEndOfStream() throws {
        let cluster = try privateCluster()
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE t (id int)")
        let connection = try LogicalReplicationConnection(cluster.dsn())
        defer { connection.close() }
        let cursor = try connection.cursor()
        try cursor.createReplicationSlot("shutdown_slot", outputPlugin: "test_decoding")
        try cursor.startReplication(slotName: "shutdown_slot", decode: true, statusInterval: 1)
        try cluster.psql("INSERT INTO t VALUES (1)")
        let stopped = Atomic<Bool>(false)
        DispatchQueue.global().asyncAfter(deadline: .now() + 1.5) {
            // The stream's end below is what the test checks; a stop that failed leaves it running
            // and the test fails there.
            try? cluster.stop(mode: .fast)
            stopped.store(true, ordering: .relaxed)
        }
        var lines = 0
        try cursor.consumeStream { message in
            lines += 1
            try message.cursor.sendFeedback(flushLSN: message.dataStart)
        }
        #expect(lines == 3)
        #expect(cursor.streamEnd?.reason == .serverEnded)
        #expect(!cursor.isReplicating)
        // Calls after the end are errors, not a silent "no data yet".
        #expect(throws: PGError.self) { _ = try cursor.readMessage() }
        for _ in 0..<100 where !stopped.load(ordering: .relaxed) { Thread.sleep(forTimeInterval: 0.1) }
        #expect(!cluster.isRunning)
    }

    @Test func twentyFaultsLoseNothingAndRepeatOnlyWhatWasInFlight() throws {
        let cluster = try privateCluster(["wal_sender_timeout": "20s"])
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE ev (txn int, part int, PRIMARY KEY (txn, part))")
        try cluster.psql("CREATE PUBLICATION ev_pub FOR TABLE ev")
        try cluster.psql("SELECT pg_create_logical_replication_slot('ev_slot', 'pgoutput')")
        let dsn = cluster.dsn()

        // The workload: transactions of two rows each, numbered; failures while the server is
        // down are retried with the next number (the table is the truth at the end).
        let writing = Atomic<Bool>(true)
        let writerDone = DispatchSemaphore(value: 0)
        Thread {
            defer { writerDone.signal() }
            var next = 1
            var connection: PGConnection?
            while writing.load(ordering: .relaxed) {
                do {
                    if connection == nil { connection = try PGConnection(dsn) }
                    try connection?.execute("INSERT INTO ev VALUES (\(next), 1), (\(next), 2)")
                } catch {
                    connection = nil
                    Thread.sleep(forTimeInterval: 0.05)
                }
                next += 1
            }
        }.start()

        var configuration = ChangeStream.Configuration(dsn: dsn, slot: "ev_slot", publications: ["ev_pub"])
        configuration.reconnect = ChangeStream.ReconnectPolicy(initialDelay: .seconds(0.05), maxDelay: .seconds(0.5))
        configuration.statusInterval = .seconds(1)
        let stream = ChangeStream(configuration)
        let delivered = Locked<[[Int]]>([])
        let failure = Locked<(any Error)?>(nil)
        let consumerDone = DispatchSemaphore(value: 0)
        Thread {
            do {
                try stream.consume { event in
                    guard case .transaction(let transaction) = event else { return }
                    var rows: [Int] = []
                    for change in transaction.changes {
                        if case .insert(_, let new) = change { rows.append(try new["txn", as: Int.self]) }
                    }
                    delivered.withLock { $0.append(rows) }
                    if rows.contains(-1) { stream.stop() }
                }
            } catch {
                failure.withLock { $0 = error }
            }
            consumerDone.signal()
        }.start()

        var random = SeededRandom(state: 2024)
        for fault in 0..<20 {
            Thread.sleep(forTimeInterval: 0.3 + Double(random.next(500)) / 1000)
            if fault % 2 == 0 {
                try cluster.stop(mode: .immediate)
                try cluster.start()
            } else {
                // The consumer may be between connections (no backend to end): a fault not made,
                // which the no-loss check after the run does not depend on.
                _ = try? cluster.psql(
                    "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'ev_slot'")
            }
        }
        Thread.sleep(forTimeInterval: 0.5)
        writing.store(false, ordering: .relaxed)
        writerDone.wait()
        try cluster.psql("INSERT INTO ev VALUES (-1, 1)")
        #expect(consumerDone.wait(timeout: .now() + 120) == .success)
        if let error = failure.withLock({ $0 }) { throw error }

        let committed = Set(
            try cluster.psql("SELECT DISTINCT txn FROM ev WHERE txn > 0").split(separator: "\n").compactMap { Int($0) })
        let transactions = delivered.withLock { $0 }.filter { !$0.contains(-1) }
        let ids = transactions.compactMap(\.first)
        #expect(committed.count > 100)
        #expect(
            Set(ids) == committed,
            "missing: \(committed.subtracting(ids).sorted().prefix(10)), extra: \(Set(ids).subtracting(committed).sorted().prefix(10))"
        )
        #expect(transactions.allSatisfy { $0.count == 2 && $0[0] == $0[1] })
        let repeats = ids.count - Set(ids).count
        #expect(repeats <= 20, "\(repeats) transactions were delivered twice")
        // A fault that lands while the stream is still reconnecting from the previous one (likely
        // on a slow machine or under a sanitizer) adds no reconnect of its own.
        #expect(stream.metrics.reconnects >= 10)
    }
}
