import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Testing

@testable import PGReplCLI

/// The initial snapshot gives exactly what the publication publishes (its column lists, row
/// filters, partition settings and generated columns), under concurrent writes: the snapshot and
/// the stream, replayed into a mirror keyed by primary key, equal `SELECT` through the
/// publication at the end.
@Suite(.serialized) struct InitialSnapshotTests {
    /// Runs `writes` on a thread of its own while the stream copies and streams, then a marker,
    /// and returns every event up to the marker.
    private func snapshotAndStream(
        _ configuration: ChangeStream.Configuration, marker: String, dsn: String,
        writes: @escaping @Sendable (PGConnection, Int) throws -> Void
    ) throws -> [PGChangeEvent] {
        let writer = ConcurrentWriter(dsn: dsn, pause: 1_000, writes)
        // Each snapshot batch takes a while, so the writes land during the copy; the writer's
        // accepted rounds at the first and the last batch prove they did.
        let copyRounds = Locked<(first: Int?, last: Int?)>((nil, nil))
        let running = RunningStream(configuration) { event in
            if case .snapshot = event {
                copyRounds.withLock { rounds in
                    rounds.first = rounds.first ?? writer.rounds
                    rounds.last = writer.rounds
                }
                usleep(20_000)
            }
        }
        defer { running.stop() }
        // Streaming starts once every table was copied.
        #expect(running.waitConnected(seconds: 60))
        Thread.sleep(forTimeInterval: 0.5)
        writer.stop()
        try PGConnection(dsn).execute(marker)
        let done = running.wait(seconds: 60) { events in
            events.contains { event in
                guard case .transaction(let transaction) = event else { return false }
                return transaction.changes.contains { $0.table?.name == "marker" }
            }
        }
        #expect(done, "the marker did not arrive: \(String(describing: running.error))")
        running.stop()
        #expect(running.error == nil, "\(String(describing: running.error))")
        let (first, last) = copyRounds.withLock { $0 }
        #expect((last ?? 0) > (first ?? .max), "no write landed while the snapshot was copied: \(copyRounds)")
        return running.received
    }

    private func expectEqual(
        _ mirror: Mirror, _ expected: Mirror, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var mirror = mirror
        mirror.tables["marker"] = nil
        let difference = mirror.difference(from: expected)
        #expect(difference == nil, "\(difference ?? "")", sourceLocation: sourceLocation)
    }

    @Test(arguments: [false, true], [1, 2])
    func columnListsAndRowFiltersUnderConcurrentWrites(binary: Bool, workers: Int) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(
            """
            CREATE TABLE items (id int PRIMARY KEY, region text NOT NULL, v text, secret text);
            INSERT INTO items SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, 'v' || g, 'secret' FROM generate_series(1, 2000) g;
            CREATE TABLE marker (id serial PRIMARY KEY);
            CREATE PUBLICATION items_pub FOR TABLE items (id, region, v) WHERE (region = 'eu'), marker;
            -- The row filter's column must be in the replica identity, and the column list must cover it.
            CREATE UNIQUE INDEX items_identity ON items (id, region);
            ALTER TABLE items REPLICA IDENTITY USING INDEX items_identity;
            """)
        var configuration = ChangeStream.Configuration(
            dsn: cluster.dsn(), slot: "items_slot", publications: ["items_pub"])
        configuration.createSlot = true
        configuration.initialSnapshot = true
        configuration.snapshotBatchSize = 100
        configuration.binary = binary
        configuration.initialSnapshotWorkers = workers
        let events = try snapshotAndStream(
            configuration, marker: "INSERT INTO marker DEFAULT VALUES", dsn: cluster.dsn()
        ) {
            connection, round in
            let id = 1 + (round * 37) % 2000
            // Rows move into and out of the filter, are deleted and come back, and new ones arrive.
            try connection.execute(
                """
                UPDATE items SET region = CASE region WHEN 'eu' THEN 'us' ELSE 'eu' END, v = 'moved \(round)' WHERE id = \(id);
                DELETE FROM items WHERE id = \(2001 - id);
                INSERT INTO items VALUES (\(2001 - id), 'eu', 'back \(round)', 's') ON CONFLICT (id) DO NOTHING;
                INSERT INTO items VALUES (\(3000 + round), CASE WHEN \(round) % 2 = 0 THEN 'eu' ELSE 'us' END, 'new', 's');
                """)
        }
        let snapshotColumns = Set(
            events.compactMap {
                if case .snapshot(let batch) = $0, batch.table.name == "items" {
                    batch.table.columns.map(\.name)
                } else {
                    nil
                }
            }.flatMap { $0 })
        #expect(snapshotColumns == ["id", "region", "v"])
        let snapshotRegions = Set(
            try events.flatMap { event -> [String] in
                guard case .snapshot(let batch) = event, batch.table.name == "items" else { return [] }
                return try batch.rows.map { try $0["region", as: String.self] }
            })
        #expect(snapshotRegions == ["eu"])
        var mirror = Mirror()
        mirror.apply(events, keys: [:])
        let expected = try Mirror.select(
            queries: ["items": "SELECT id, region, v FROM items WHERE region = 'eu'"], keys: [:], dsn: cluster.dsn())
        expectEqual(mirror, expected)
    }

    @Test(arguments: [true, false], [1, 2])
    func partitionsFollowPublishViaPartitionRoot(viaRoot: Bool, workers: Int) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(
            """
            CREATE TABLE measures (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
            CREATE TABLE measures_eu PARTITION OF measures FOR VALUES IN ('eu');
            CREATE TABLE measures_us PARTITION OF measures FOR VALUES IN ('us');
            INSERT INTO measures SELECT g, CASE WHEN g % 3 = 0 THEN 'us' ELSE 'eu' END, g FROM generate_series(1, 1500) g;
            CREATE TABLE marker (id serial PRIMARY KEY);
            CREATE PUBLICATION m_pub FOR TABLE measures, marker WITH (publish_via_partition_root = \(viaRoot));
            """)
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "m_slot", publications: ["m_pub"])
        configuration.createSlot = true
        configuration.initialSnapshot = true
        configuration.snapshotBatchSize = 100
        configuration.initialSnapshotWorkers = workers
        let events = try snapshotAndStream(
            configuration, marker: "INSERT INTO marker DEFAULT VALUES", dsn: cluster.dsn()
        ) {
            connection, round in
            let id = 1 + (round * 13) % 1500
            // Cross-partition updates, deletes and inserts during the copy.
            try connection.execute(
                """
                UPDATE measures SET region = CASE region WHEN 'eu' THEN 'us' ELSE 'eu' END, v = -\(round) WHERE id = \(id);
                DELETE FROM measures WHERE id = \(1501 - id);
                INSERT INTO measures VALUES (\(2000 + round), 'eu', \(round));
                """)
        }
        let snapshotTables = Set(
            events.compactMap { if case .snapshot(let batch) = $0 { batch.table.name } else { nil } })
        let keys = ["measures": ["id", "region"], "measures_eu": ["id", "region"], "measures_us": ["id", "region"]]
        var mirror = Mirror()
        mirror.apply(events, keys: keys)
        if viaRoot {
            #expect(snapshotTables.contains("measures") && !snapshotTables.contains("measures_eu"))
            expectEqual(mirror, try Mirror.select(["measures"], keys: keys, dsn: cluster.dsn()))
        } else {
            #expect(snapshotTables.contains("measures_eu") && snapshotTables.contains("measures_us"))
            #expect(!snapshotTables.contains("measures"))
            expectEqual(
                mirror,
                try Mirror.select(
                    queries: [
                        "measures_eu": "SELECT * FROM ONLY measures_eu",
                        "measures_us": "SELECT * FROM ONLY measures_us",
                    ],
                    keys: keys, dsn: cluster.dsn()))
        }
    }

    /// A generated column is in the snapshot exactly when the stream sends it: never before
    /// PostgreSQL 18, and on 18 with `publish_generated_columns = stored`.
    @Test func generatedColumnsAreCopiedAsTheStreamSendsThem() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        let major = ServerFeatures.current.majorVersion
        try cluster.psql(
            """
            CREATE TABLE g (id int PRIMARY KEY, v int, doubled int GENERATED ALWAYS AS (v * 2) STORED);
            INSERT INTO g (id, v) SELECT x, x FROM generate_series(1, 10) x;
            CREATE PUBLICATION plain FOR TABLE g;
            """ + (major >= 18 ? " CREATE PUBLICATION gen FOR TABLE g WITH (publish_generated_columns = stored);" : ""))
        for publication in major >= 18 ? ["plain", "gen"] : ["plain"] {
            var configuration = ChangeStream.Configuration(
                dsn: cluster.dsn(), slot: "s_\(publication)", publications: [publication])
            configuration.createSlot = true
            configuration.initialSnapshot = true
            let running = RunningStream(configuration)
            defer { running.stop() }
            #expect(running.wait { $0.contains { if case .snapshot(let b) = $0 { b.isLast } else { false } } })
            #expect(running.waitConnected())
            try cluster.psql("INSERT INTO g (id, v) VALUES (100 + \(publication.count), 5)")
            #expect(running.wait { $0.contains { if case .transaction = $0 { true } else { false } } })
            running.stop()
            let snapshotColumns = running.received.compactMap { event -> [String]? in
                if case .snapshot(let batch) = event { return batch.table.columns.map(\.name) }
                return nil
            }.first
            let streamColumns = running.received.compactMap { event -> [String]? in
                if case .transaction(let transaction) = event, case .insert(let table, _)? = transaction.changes.first {
                    return table.columns.map(\.name)
                }
                return nil
            }.first
            #expect(snapshotColumns == streamColumns, "\(publication)")
            #expect(
                snapshotColumns == (publication == "gen" ? ["id", "v", "doubled"] : ["id", "v"]), "\(publication)")
        }
    }

    /// The snapshot's typed values are the ones the stream gives for the same row, in text and
    /// binary mode.
    @Test(arguments: [false, true], [1, 2])
    func snapshotValuesEqualTheStreamsValues(binary: Bool, workers: Int) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        let values =
            "42, 9000000000, 12.345, 1.5::float8, true, '2024-02-29 13:14:15.123456+02', '2024-02-29', 'P1DT2H'::interval,"
            + " '{1,2,3}'::int[], '{\"a\": [1, 2]}'::jsonb, '\\xdeadbeef'::bytea, 'béta ✓', '192.168.0.1/24'::inet,"
            + " 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid"
        try cluster.psql(
            """
            CREATE TABLE typed (id int PRIMARY KEY, i int, b bigint, n numeric(10,3), f float8, ok bool, ts timestamptz,
              d date, span interval, arr int[], doc jsonb, raw bytea, t text, addr inet, u uuid);
            INSERT INTO typed VALUES (1, \(values));
            CREATE PUBLICATION typed_pub FOR TABLE typed;
            """)
        var configuration = ChangeStream.Configuration(
            dsn: cluster.dsn(), slot: "typed_slot", publications: ["typed_pub"])
        configuration.createSlot = true
        configuration.initialSnapshot = true
        configuration.binary = binary
        configuration.initialSnapshotWorkers = workers
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected())
        try cluster.psql("INSERT INTO typed VALUES (2, \(values))")
        #expect(running.wait { $0.contains { if case .transaction = $0 { true } else { false } } })
        running.stop()
        let fromSnapshot = running.received.compactMap { event -> [String: PGValue]? in
            if case .snapshot(let batch) = event, let row = batch.rows.first {
                return ComparableTransaction.values(row, skipNull: false)
            }
            return nil
        }.first
        let fromStream = running.received.compactMap { event -> [String: PGValue]? in
            if case .transaction(let transaction) = event, case .insert(_, let row)? = transaction.changes.first {
                return ComparableTransaction.values(row, skipNull: false)
            }
            return nil
        }.first
        var snapshot = try #require(fromSnapshot)
        var stream = try #require(fromStream)
        snapshot["id"] = nil
        stream["id"] = nil
        #expect(snapshot == stream)
    }

    /// While a table is copied, `metrics.copy` names it with its rows so far and the server's
    /// estimate of its rows (of its partitions, for a partitioned root), which the CLI shows with
    /// a rate and the time left.
    @Test func theCopyShowsItsProgressAndAnEstimate() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(
            """
            CREATE TABLE plain (id int PRIMARY KEY, v text);
            INSERT INTO plain SELECT g, 'v' FROM generate_series(1, 3000) g;
            CREATE TABLE parted (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
            CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
            CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
            INSERT INTO parted SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 2000) g;
            ANALYZE;
            CREATE PUBLICATION pub FOR TABLE plain, parted WITH (publish_via_partition_root = true);
            """)
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "progress", publications: ["pub"])
        configuration.createSlot = true
        configuration.initialSnapshot = true
        configuration.snapshotBatchSize = 500
        let seen = Locked<[String: [ChangeStream.CopyProgress]]>([:])
        let holder = Locked<ChangeStream?>(nil)
        let running = RunningStream(configuration) { event in
            guard case .snapshot(let batch) = event, let copy = holder.withLock({ $0 })?.metrics.copy else { return }
            seen.withLock { $0[batch.table.name, default: []].append(copy) }
        }
        holder.withLock { $0 = running.stream }
        defer { running.stop() }
        #expect(running.waitConnected(seconds: 60))
        #expect(running.stream.metrics.copy == nil, "the copy is over")
        let progress = seen.withLock { $0 }
        let plain = try #require(progress["plain"])
        #expect(plain.allSatisfy { $0.table == "public.plain" && !$0.isBackfill && $0.estimatedRows == 3000 })
        #expect(plain.map(\.rows) == plain.map(\.rows).sorted() && plain.count >= 6)
        let parted = try #require(progress["parted"])
        #expect(parted.allSatisfy { $0.estimatedRows == 2000 }, "\(parted)")
        let line = StreamProgress.copyText(
            ChangeStream.CopyProgress(
                table: "public.plain", isBackfill: false, rows: 1000, estimatedRows: 3000,
                started: Date().addingTimeInterval(-2)))
        #expect(
            line.hasPrefix("initial snapshot: public.plain 1000 of ~3000 rows (33 %), 500 rows/s, ~4 s left"), "\(line)"
        )
    }

    /// With several workers, that many connections read each table at once, every row arrives
    /// once, tables come one after another, and only a table's last batch says it is last (an
    /// empty table's too).
    @Test func workersShareEachTableAndEveryRowArrivesOnce() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(
            """
            CREATE TABLE wide (id int PRIMARY KEY, v text);
            INSERT INTO wide SELECT g, repeat('w', 100) FROM generate_series(1, 30000) g;
            DELETE FROM wide WHERE id % 7 = 0;
            CREATE TABLE narrow (id int PRIMARY KEY);
            INSERT INTO narrow SELECT generate_series(1, 5000);
            CREATE TABLE empty (id int PRIMARY KEY);
            CREATE PUBLICATION pub FOR TABLE wide, narrow, empty;
            """)
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "workers", publications: ["pub"])
        configuration.createSlot = true
        configuration.initialSnapshot = true
        configuration.snapshotBatchSize = 1000
        configuration.initialSnapshotWorkers = 3
        let copiers = try CopyConnections(dsn: cluster.dsn())
        let running = RunningStream(configuration) { event in
            if case .snapshot = event { copiers.sample() }
        }
        defer { running.stop() }
        // Streaming starts once every table was copied and the slot made.
        #expect(running.waitConnected(seconds: 60), "\(String(describing: running.error))")
        running.stop()
        var ids: [String: [Int]] = [:]
        var order: [String] = []
        var lastFlags: [String: [Bool]] = [:]
        for event in running.received {
            guard case .snapshot(let batch) = event else { continue }
            let name = batch.table.name
            if order.last != name { order.append(name) }
            lastFlags[name, default: []].append(batch.isLast)
            ids[name, default: []] += try batch.rows.map { try $0["id", as: Int.self] }
        }
        #expect(copiers.most == 3, "\(copiers.most) connections copied")
        #expect(order == ["empty", "narrow", "wide"], "tables interleaved: \(order)")
        for (name, flags) in lastFlags {
            #expect(flags.last == true && flags.dropLast().allSatisfy { !$0 }, "\(name): \(flags)")
        }
        #expect(ids["empty"] == [])
        #expect(ids["narrow"]?.sorted() == Array(1...5000))
        #expect(ids["wide"]?.sorted() == (1...30000).filter { $0 % 7 != 0 })
        #expect(try cluster.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'workers'") == "1")
    }

    /// The CLI writes the snapshot as `R` lines, then the stream.
    @Test(arguments: [1, 2]) func theCLIWritesSnapshotRowsAsRLines(workers: Int) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(
            """
            CREATE TABLE items (id int PRIMARY KEY, v text, secret text);
            INSERT INTO items SELECT g, 'v' || g, 's' FROM generate_series(1, 30) g;
            CREATE PUBLICATION items_pub FOR TABLE items (id, v) WHERE (id <= 20);
            """)
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let file = folder + "/out.jsonl"
        let process = try RunningProcess.pgrepl([
            "stream", "--dsn", cluster.dsn(), "--slot", "cli_snap", "--publication", "items_pub", "--create-slot",
            "--initial-snapshot", "--output", file, "--snapshot-workers", "\(workers)",
        ])
        defer { process.signal(SIGKILL) }
        #expect(eventually { readTextFile(file).components(separatedBy: "\"action\":\"R\"").count - 1 == 20 })
        try cluster.psql("INSERT INTO items VALUES (15000, 'filtered out', 's')")
        try cluster.psql("UPDATE items SET v = 'after' WHERE id = 3")
        #expect(eventually { readTextFile(file).contains("\"action\":\"U\"") })
        process.signal(SIGTERM)
        _ = try process.finish(within: 30)
        let text = readTextFile(file)
        #expect(!text.contains("secret"))
        #expect(text.components(separatedBy: "\"action\":\"R\"").count - 1 == 20)
        #expect(
            text.contains("{\"action\":\"R\",\"schema\":\"public\",\"table\":\"items\",\"columns\":[{\"name\":\"id\""))
        #expect(!text.contains("filtered out"), "a row outside the filter was streamed: \(text.suffix(300))")
        expectFailure(
            try RunningProcess.pgrepl([
                "stream", "--dsn", cluster.dsn(), "--slot", "x", "--publication", "items_pub", "--initial-snapshot",
            ]).finish(), status: 1, containing: ["--create-slot"])
        expectFailure(
            try RunningProcess.pgrepl([
                "stream", "--dsn", cluster.dsn(), "--slot", "x", "--publication", "items_pub", "--snapshot-workers",
                "2",
            ]).finish(), status: 1, containing: ["--snapshot-workers needs --initial-snapshot"])
        expectFailure(
            try RunningProcess.pgrepl([
                "stream", "--dsn", cluster.dsn(), "--slot", "x", "--publication", "items_pub", "--create-slot",
                "--initial-snapshot", "--snapshot-workers", "0",
            ]).finish(), status: 1, containing: ["--snapshot-workers must be 1 to 64"])
    }
}
