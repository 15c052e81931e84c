import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Testing

/// Read after write: a consumer that reads each delivered row back, while a commit waits for a
/// synchronous standby that never comes (so the stream decodes it long before other sessions see
/// it). Without the gate the consumer reads the old row; with it, the transaction is delivered
/// only once visible, and the row read back is the new one. In assembled and chunked delivery.
@Suite(.serialized) struct VisibilityGateTests {
    /// What the consumer saw: the value delivered, and the value it read back at once.
    struct ReadBack: Equatable {
        var delivered: Int
        var readBack: Int
    }

    static let schema = """
        CREATE TABLE t (k int PRIMARY KEY, v int NOT NULL);
        INSERT INTO t VALUES (1, 0);
        CREATE PUBLICATION pub FOR TABLE t;
        """

    /// The consumer: for each update delivered, row 1 read back at once.
    final class Reader: Sendable {
        private let connection: Locked<PGConnection>
        private let log = Locked<[ReadBack]>([])

        init(dsn: String) throws { connection = Locked(try PGConnection(dsn)) }
        deinit { connection.withLock { $0.close() } }

        var seen: [ReadBack] { log.withLock { $0 } }

        func readBack(_ event: PGChangeEvent) {
            var rows: [PGRow] = []
            switch event {
            case .transaction(let transaction):
                for case .update(_, _, _, let new) in transaction.changes { rows.append(new) }
            case .changes(let batch):
                for case .update(_, _, _, let new) in batch.changes { rows.append(new) }
            default: break
            }
            for row in rows {
                guard let delivered = try? row["v", as: Int.self] else { continue }
                let text = connection.withLock {
                    try? $0.execute("SELECT v FROM t WHERE k = 1").rows.first?.first ?? nil
                }
                log.withLock { $0.append(ReadBack(delivered: delivered, readBack: text.flatMap { Int($0) } ?? -1)) }
            }
        }
    }

    @Test(arguments: [true, false], [PGChangeDelivery.assembled, .chunked(batchSize: 100)])
    func aConsumerThatReadsBackNeverSeesTheOldRow(gated: Bool, delivery: PGChangeDelivery) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(Self.schema)
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "gate", publications: ["pub"])
        configuration.createSlot = true
        configuration.delivery = delivery
        configuration.visibility = gated ? ChangeStream.VisibilityGate() : nil
        let reader = try Reader(dsn: cluster.dsn())
        let running = RunningStream(configuration) { reader.readBack($0) }
        defer { running.stop() }
        #expect(running.waitConnected(seconds: 60))
        try WaitingCommit.requireAStandbyThatNeverComes(cluster)
        let commit = WaitingCommit(dsn: cluster.dsn(), "UPDATE t SET v = 1 WHERE k = 1")
        if gated {
            // Decoded, not visible: the stream holds it.
            Thread.sleep(forTimeInterval: 2)
            #expect(reader.seen.isEmpty, "delivered before it was visible: \(reader.seen)")
            #expect(!commit.hasReturned)
            try commit.release(cluster)
            #expect(eventually { !reader.seen.isEmpty })
            #expect(reader.seen == [ReadBack(delivered: 1, readBack: 1)])
        } else {
            #expect(eventually { !reader.seen.isEmpty })
            #expect(!commit.hasReturned, "the commit did not wait for the standby")
            // Without the gate the consumer reads the old row back: the setup shows the race.
            #expect(reader.seen == [ReadBack(delivered: 1, readBack: 0)])
            try commit.release(cluster)
        }
        running.stop()
        #expect(running.error == nil, "\(String(describing: running.error))")
    }

    /// With the gate on a standby (`VisibilityGate.dsn`), a transaction is delivered once the
    /// standby replayed it: a consumer that reads back from the standby gets the new row, even
    /// while the standby's replay is paused when the commit is decoded.
    @Test func onAStandbyATransactionWaitsForItsReplay() throws {
        let primary = try LocalCluster.start(testClusterConfiguration)
        defer { primary.destroy() }
        try primary.psql(Self.schema)
        let standby = try primary.startStandby()
        defer { standby.destroy() }
        #expect(eventually { (try? standby.psql("SELECT v FROM t WHERE k = 1")) == "0" })
        var configuration = ChangeStream.Configuration(dsn: primary.dsn(), slot: "gate", publications: ["pub"])
        configuration.createSlot = true
        configuration.visibility = ChangeStream.VisibilityGate(dsn: standby.dsn())
        let reader = try Reader(dsn: standby.dsn())
        let running = RunningStream(configuration) { reader.readBack($0) }
        defer { running.stop() }
        #expect(running.waitConnected(seconds: 60))
        try standby.psql("SELECT pg_wal_replay_pause()")
        try primary.psql("UPDATE t SET v = 1 WHERE k = 1")
        Thread.sleep(forTimeInterval: 2)
        #expect(reader.seen.isEmpty, "delivered before the standby replayed it")
        try standby.psql("SELECT pg_wal_replay_resume()")
        #expect(eventually { !reader.seen.isEmpty })
        #expect(reader.seen == [ReadBack(delivered: 1, readBack: 1)])
        running.stop()
        #expect(running.error == nil, "\(String(describing: running.error))")
    }
}
