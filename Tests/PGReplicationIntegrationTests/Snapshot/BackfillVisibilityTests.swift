import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Testing

/// A commit reaches the stream before other sessions can see it while it waits for a synchronous
/// standby (and, briefly, between its flush and the server's update of its running
/// transactions). A backfill chunk read then holds the row as it was before that commit, which
/// the stream already delivered. Here `synchronous_standby_names` names a standby that never
/// comes, so such a commit waits until the test cancels its wait:
/// - one updates row 2 and is delivered before the backfill begins;
/// - one updates row 5 and is delivered between the first chunk's read and the second's low
///   watermark, so it lies before the second chunk's window (the race CI once caught).
///
/// With the check of what each chunk's read could see, no row goes back in time: the backfill
/// waits for the first commit to be visible, and leaves row 5 out of the second chunk. With
/// DBLog's rule alone (a chunk's window from its low watermark), both rows go back in time.
@Suite(.serialized) struct BackfillVisibilityTests {
    static func delivered(_ k: Int, _ events: [PGChangeEvent]) -> Bool {
        events.contains { event in
            guard case .transaction(let transaction) = event else { return false }
            return transaction.changes.contains { change in
                guard case .update(let table, _, _, let new) = change, table.name == "t" else { return false }
                return (try? new["k", as: Int.self]) == k
            }
        }
    }

    @Test(arguments: [true, false], [1, 2])
    func aCommitNotYetVisibleNeverSendsARowBackInTime(checked: Bool, workers: Int) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(
            """
            CREATE TABLE t (k int PRIMARY KEY, v int NOT NULL);
            INSERT INTO t SELECT g, 0 FROM generate_series(1, 6) g;
            CREATE PUBLICATION pub FOR TABLE t;
            """)
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "visible", publications: ["pub"])
        configuration.createSlot = true
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected(seconds: 60))
        if !checked { running.stream.backfillIgnoresVisibility() }
        try WaitingCommit.requireAStandbyThatNeverComes(cluster)
        let dsn = cluster.dsn()

        // Delivered before the backfill begins, not visible.
        let before = WaitingCommit(dsn: dsn, "UPDATE t SET v = 1 WHERE k = 2")
        #expect(running.wait(seconds: 30) { Self.delivered(2, $0) }, "the first commit was not delivered")
        #expect(!before.hasReturned, "the commit did not wait for the standby")

        // Delivered after the first chunk's read, before the second chunk's low watermark.
        let between = Locked<WaitingCommit?>(nil)
        running.stream.onBackfillChunkRead { _, _ in
            guard between.withLock({ $0 == nil }) else { return }
            between.withLock { $0 = WaitingCommit(dsn: dsn, "UPDATE t SET v = 1 WHERE k = 5") }
            #expect(running.wait(seconds: 30) { Self.delivered(5, $0) }, "the second commit was not delivered")
        }
        var backfill = ChangeStream.Backfill(tables: ["t"], chunkSize: 3)
        backfill.workers = workers
        try running.stream.backfill(backfill)
        if checked {
            // The backfill waits for the first commit: no chunk while it is not visible.
            Thread.sleep(forTimeInterval: 2)
            #expect(!running.received.contains { if case .snapshot = $0 { true } else { false } })
            try before.release(cluster)
        }
        let complete = running.wait(seconds: 60, until: BackfillTests.backfillComplete)
        #expect(complete, "the backfill did not complete: \(String(describing: running.error))")
        if !checked { try before.release(cluster) }
        try #require(between.withLock { $0 }).release(cluster)
        running.stop()
        #expect(running.error == nil, "\(String(describing: running.error))")

        // The consumer's order of row versions.
        var latest: [Int: Int] = [:]
        var backwards: [Int] = []
        var chunks: [[Int]] = []
        for event in running.received {
            var rows: [PGRow] = []
            switch event {
            case .transaction(let transaction):
                for case .update(let table, _, _, let new) in transaction.changes where table.name == "t" {
                    rows.append(new)
                }
            case .snapshot(let batch):
                rows = batch.rows
                chunks.append(try batch.rows.map { try $0["k", as: Int.self] })
            default: break
            }
            for row in rows {
                let (k, v) = (try row["k", as: Int.self], try row["v", as: Int.self])
                if let seen = latest[k], v < seen { backwards.append(k) }
                latest[k] = max(latest[k] ?? v, v)
            }
        }
        if checked {
            #expect(backwards.isEmpty, "rows went back in time: \(backwards); chunks \(chunks)")
            #expect(chunks == [[1, 2, 3], [4, 6], []], "\(chunks)")
        } else {
            // DBLog's rule alone: the setup does make both rows go back in time.
            #expect(backwards == [2, 5], "chunks \(chunks)")
        }
    }
}
