import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Testing

/// The backfill's DBLog rule, deterministically: the test holds each table's first chunk between
/// its read and its high watermark (`onBackfillChunkRead`), updates one of the chunk's rows
/// there, and checks that the chunk left that row out while the update was delivered before
/// it. Keys of a domain, an enum, citext, and a composite key, in text and in binary: a chunk key
/// typed or encoded otherwise than the stream's never matches, and the stale row goes out.
@Suite(.serialized) struct DBLogWindowTests {
    static let schema = """
        CREATE DOMAIN order_id AS bigint CHECK (VALUE > 0);
        CREATE TYPE color AS ENUM ('c1', 'c2', 'c3', 'c4', 'c5', 'c6');
        CREATE TABLE by_domain (id order_id PRIMARY KEY, k int NOT NULL, v int NOT NULL);
        CREATE TABLE by_enum (id color PRIMARY KEY, k int NOT NULL, v int NOT NULL);
        CREATE TABLE by_composite (region text, id order_id, k int NOT NULL, v int NOT NULL, PRIMARY KEY (region, id));
        INSERT INTO by_domain SELECT g, g, 0 FROM generate_series(1, 6) g;
        INSERT INTO by_enum SELECT ('c' || g)::color, g, 0 FROM generate_series(1, 6) g;
        INSERT INTO by_composite SELECT 'eu', g, g, 0 FROM generate_series(1, 6) g;
        CREATE PUBLICATION pub FOR TABLE by_domain, by_enum, by_composite;
        """
    static let citextSchema = """
        CREATE EXTENSION citext;
        CREATE TABLE by_citext (id citext PRIMARY KEY, k int NOT NULL, v int NOT NULL);
        INSERT INTO by_citext SELECT 'Key' || g, g, 0 FROM generate_series(1, 6) g;
        ALTER PUBLICATION pub ADD TABLE by_citext;
        """

    /// With two workers, each chunk's key range is cut at a typed key and read in two parts.
    @Test(arguments: [false, true], [1, 2])
    func aRowChangedBetweenAChunksReadAndItsHighWatermarkIsLeftOut(binary: Bool, workers: Int) throws {
        try check(tables: ["by_domain", "by_enum", "by_composite"], binary: binary, workers: workers)
    }

    @Test(.requires(.citext), arguments: [false, true], [1, 2])
    func aCitextKeyChangedInTheWindowIsLeftOut(binary: Bool, workers: Int) throws {
        try check(tables: ["by_citext"], binary: binary, workers: workers, extra: Self.citextSchema)
    }

    /// Backfills `tables` in chunks of 3 (k 1–3, then 4–6); in each table's first chunk's window
    /// row k = 2 is set to v = 1.
    private func check(tables: [String], binary: Bool, workers: Int, extra: String = "") throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(Self.schema + extra)
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "window", publications: ["pub"])
        configuration.createSlot = true
        configuration.binary = binary
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected(seconds: 60))
        let dsn = cluster.dsn()
        let held = Locked<[String]>([])
        running.stream.onBackfillChunkRead { table, _ in
            let name = String(table.split(separator: ".").last ?? "")
            let first = held.withLock { held in
                guard !held.contains(name) else { return false }
                held.append(name)
                return true
            }
            guard first else { return }
            // Committed before the hook returns, so before the chunk's high watermark.
            let writer = try PGConnection(dsn)
            defer { writer.close() }
            try writer.execute("UPDATE \(name) SET v = 1 WHERE k = 2")
        }
        var backfill = ChangeStream.Backfill(tables: tables, chunkSize: 3)
        backfill.workers = workers
        try running.stream.backfill(backfill)
        let complete = running.wait(seconds: 120, until: BackfillTests.backfillComplete)
        #expect(complete, "the backfill did not complete: \(String(describing: running.error))")
        running.stop()
        #expect(running.error == nil, "\(String(describing: running.error))")
        #expect(held.withLock { $0 } == tables, "the hook ran for \(held.withLock { $0 })")

        for table in tables {
            var order: [String] = []
            var chunks: [[Int]] = []
            for event in running.received {
                switch event {
                case .transaction(let transaction):
                    for case .update(let changed, _, _, let new) in transaction.changes where changed.name == table {
                        order.append("update k=\(try new["k", as: Int.self]) v=\(try new["v", as: Int.self])")
                    }
                case .snapshot(let batch) where batch.table.name == table:
                    let ks = try batch.rows.map { try $0["k", as: Int.self] }
                    chunks.append(ks)
                    order.append("chunk \(ks)")
                default: break
                }
            }
            // The update is in the first chunk's window: delivered before the chunk, whose copy of
            // row 2 (v = 0) is older and left out. A full last chunk is followed by an empty one.
            #expect(chunks == [[1, 3], [4, 5, 6], []], "\(table) (binary \(binary)): \(order)")
            #expect(order.first == "update k=2 v=1", "\(table) (binary \(binary)): \(order)")
        }
    }
}
