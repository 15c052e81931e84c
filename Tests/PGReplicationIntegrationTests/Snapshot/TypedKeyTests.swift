import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Snapshot and backfill rows typed as the stream types them: a domain's own type (not its base
/// type), an enum, an extension type (citext), in text and in binary. The DBLog rule compares a
/// chunk's keys with the stream's, so a key typed or encoded otherwise in the chunk never matches
/// and rows go back in time.
@Suite(.serialized, .requires(.citext)) struct TypedKeyTests {
    static let rows = 20
    static let schema = """
        CREATE EXTENSION citext;
        CREATE DOMAIN order_id AS bigint CHECK (VALUE > 0);
        CREATE TYPE color AS ENUM (\((1...rows).map { "'c\(100 + $0)'" }.joined(separator: ", ")));
        CREATE TABLE by_domain (id order_id PRIMARY KEY, k int NOT NULL, v int NOT NULL, tags order_id[]);
        CREATE TABLE by_enum (id color PRIMARY KEY, k int NOT NULL, v int NOT NULL);
        CREATE TABLE by_citext (id citext PRIMARY KEY, k int NOT NULL, v int NOT NULL);
        INSERT INTO by_domain SELECT g, g, 0, ARRAY[g, g + 1] FROM generate_series(1, \(rows)) g;
        INSERT INTO by_enum SELECT ('c' || (100 + g))::color, g, 0 FROM generate_series(1, \(rows)) g;
        INSERT INTO by_citext SELECT 'Key' || g, g, 0 FROM generate_series(1, \(rows)) g;
        CREATE TABLE marker (id serial PRIMARY KEY);
        CREATE PUBLICATION pub FOR TABLE by_domain, by_enum, by_citext, marker;
        """
    static let tables = ["by_domain", "by_enum", "by_citext"]

    /// (table, k) → v, in the order the consumer got them; chunk rows marked.
    struct Delivery {
        var table: String
        var k: Int
        var v: Int
        var fromChunk: Bool
    }

    static func deliveries(_ events: [PGChangeEvent]) throws -> [Delivery] {
        var out: [Delivery] = []
        func note(_ table: PGTable, _ row: PGRow, chunk: Bool) throws {
            guard tables.contains(table.name) else { return }
            out.append(
                Delivery(
                    table: table.name, k: try row["k", as: Int.self], v: try row["v", as: Int.self], fromChunk: chunk))
        }
        for event in events {
            switch event {
            case .transaction(let transaction):
                for change in transaction.changes {
                    switch change {
                    case .insert(let table, let new), .update(let table, _, _, let new):
                        try note(table, new, chunk: false)
                    default: break
                    }
                }
            case .snapshot(let batch):
                for row in batch.rows { try note(batch.table, row, chunk: true) }
            default: break
            }
        }
        return out
    }

    /// A backfill of the three tables, chunk by chunk, while every even row of each is updated
    /// without pause: a chunk row of an even key is older than the update the window delivered,
    /// so the rule must leave it out; odd rows are never touched and always delivered. No row
    /// goes back in time, the key and column types equal the stream's, and the consumer's last
    /// value of each row equals the table.
    @Test(arguments: [false, true], [1, 2])
    func backfillWithDomainEnumAndCitextKeys(binary: Bool, workers: Int) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(Self.schema)
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "typed", publications: ["pub"])
        configuration.createSlot = true
        configuration.binary = binary
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected(seconds: 60))
        let writer = ConcurrentWriter(dsn: cluster.dsn(), pause: 200) { connection, round in
            let k = 2 * (1 + round % (Self.rows / 2))
            try connection.execute(
                Self.tables.map { "UPDATE \($0) SET v = v + 1 WHERE k = \(k);" }.joined(separator: " "))
        }
        var backfill = ChangeStream.Backfill(tables: Self.tables, chunkSize: 2)
        backfill.workers = workers
        try running.stream.backfill(backfill)
        let complete = running.wait(seconds: 180, until: BackfillTests.backfillComplete)
        #expect(complete, "the backfill did not complete: \(String(describing: running.error))")
        writer.stop()
        try cluster.psql("INSERT INTO marker DEFAULT VALUES")
        #expect(running.wait(seconds: 60, until: BackfillTests.hasMarker), "\(String(describing: running.error))")
        running.stop()
        #expect(running.error == nil, "\(String(describing: running.error))")
        let events = running.received
        let deliveries = try Self.deliveries(events)

        // No row goes back in time.
        var latest: [String: Int] = [:]
        var backwards: [String] = []
        for delivery in deliveries {
            let id = "\(delivery.table)/\(delivery.k)"
            if let seen = latest[id], delivery.v < seen {
                backwards.append("\(id): \(delivery.fromChunk ? "chunk" : "change") v=\(delivery.v) after v=\(seen)")
            }
            latest[id] = max(latest[id] ?? delivery.v, delivery.v)
        }
        #expect(backwards.isEmpty, "\(backwards.count) rows went back in time: \(backwards.prefix(10))")

        // Untouched rows are all copied. Whether a touched one falls in a chunk's window here is
        // chance (the writer races the chunks); DBLogWindowTests puts one there every time and
        // checks that the rule leaves it out, for these key types.
        let chunkRows = deliveries.filter(\.fromChunk)
        for table in Self.tables {
            let odd = Set(chunkRows.filter { $0.table == table && $0.k % 2 == 1 }.map(\.k))
            #expect(odd.count == Self.rows / 2, "\(table): \(odd.count) of \(Self.rows / 2) untouched rows copied")
        }

        // Chunk rows are typed as the stream types them.
        var streamed: [String: [RelationColumn]] = [:]
        var copied: [String: [RelationColumn]] = [:]
        for event in events {
            switch event {
            case .transaction(let transaction):
                for change in transaction.changes {
                    if let table = change.table { streamed[table.name] = table.columns }
                }
            case .snapshot(let batch): copied[batch.table.name] = batch.table.columns
            default: break
            }
        }
        for table in Self.tables {
            #expect(
                copied[table] == streamed[table],
                "\(table): chunk \(copied[table] ?? []) stream \(streamed[table] ?? [])")
        }

        // The consumer's last value of each row equals the table.
        let actual = try cluster.psql(
            Self.tables.map { "SELECT '\($0)/' || k || '=' || v FROM \($0)" }.joined(separator: " UNION ALL "))
        let expected = Set(actual.split(separator: "\n").map(String.init))
        var last: [String: Int] = [:]
        for delivery in deliveries { last["\(delivery.table)/\(delivery.k)"] = delivery.v }
        let mirrored = Set(last.map { "\($0.key)=\($0.value)" })
        #expect(mirrored == expected, "missing \(expected.subtracting(mirrored).sorted().prefix(10))")
    }

    /// `pgrepl stream --initial-snapshot`: an R line of a row equals the U line of an update that
    /// changes nothing, column for column (type names, values), in text and in binary.
    @Test(arguments: [false, true])
    func cliSnapshotLinesEqualStreamLines(binary: Bool) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(Self.schema)
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let file = folder + "/out.jsonl"
        let process = try RunningProcess.pgrepl(
            [
                "stream", "--dsn", cluster.dsn(), "--slot", "typed_cli", "--publication", "pub", "--create-slot",
                "--initial-snapshot", "--output", file,
            ] + (binary ? ["--binary"] : []))
        defer { process.signal(SIGKILL) }
        #expect(
            eventually { readTextFile(file).components(separatedBy: "\"action\":\"R\"").count - 1 == 3 * Self.rows })
        for table in Self.tables { try cluster.psql("UPDATE \(table) SET v = v WHERE k = 3") }
        #expect(eventually { readTextFile(file).components(separatedBy: "\"action\":\"U\"").count - 1 == 3 })
        process.signal(SIGTERM)
        _ = try process.finish(within: 30)
        // pgrepl ended with SIGTERM: every line is whole, and one that is not JSON fails here.
        let lines = try readTextFile(file).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        for table in Self.tables {
            func columns(_ action: String) throws -> String? {
                try lines.first { line in
                    guard line["action"] as? String == action, line["table"] as? String == table,
                        let columns = line["columns"] as? [[String: Any]]
                    else { return false }
                    return columns.contains { $0["name"] as? String == "k" && ($0["value"] as? Int) == 3 }
                }.map { line in
                    String(
                        decoding: try JSONSerialization.data(
                            withJSONObject: line["columns"] ?? [], options: .sortedKeys),
                        as: UTF8.self)
                }
            }
            let snapshot = try columns("R")
            let update = try columns("U")
            #expect(snapshot != nil && snapshot == update, "\(table): R \(snapshot ?? "none") U \(update ?? "none")")
        }
    }
}
