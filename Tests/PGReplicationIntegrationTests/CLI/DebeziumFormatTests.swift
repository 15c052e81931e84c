import Foundation
import PGLocalCluster
import PGReplication
import Testing

/// `pgrepl stream --format debezium`: the envelope of Debezium's PostgreSQL connector (JSON
/// converter, schemas disabled) with its default value mappings, checked against the mappings
/// Debezium documents for each type.
@Suite(.serialized) struct DebeziumFormatTests {
    final class Fixture: @unchecked Sendable {
        let cluster: LocalCluster
        let end: LSN

        init() throws {
            cluster = try LocalCluster.start(testClusterConfiguration)
            try cluster.psql(
                """
                CREATE TABLE typed (id int PRIMARY KEY, n numeric(14,4), nv numeric, f8 double precision, b bool,
                  t text, by bytea, d date, ts timestamp, ts3 timestamp(3), tstz timestamptz, tm time, tm3 time(3),
                  tmtz timetz, iv interval, iv2 interval, u uuid, jb jsonb, ia int[], ta text[], i8 bigint);
                CREATE TABLE keyless (v text);
                CREATE PUBLICATION pub FOR ALL TABLES;
                """)
            // Not in the transaction that wrote.
            try cluster.psql("SELECT pg_create_logical_replication_slot('base', 'pgoutput')")
            let connection = try PGConnection(cluster.dsn())
            defer { connection.close() }
            for statement in [
                """
                INSERT INTO typed VALUES (1, 12.34, 1.5, 'NaN', true, 'tab\there', '\\xdeadbeef', '2024-02-29',
                  '2024-02-29 13:14:15.5', '2024-02-29 13:14:15.123', '2024-02-29 13:14:15.123456+00', '13:14:15',
                  '13:14:15.123', '13:14:15+05:30', '1 day 02:03:04', '1 mon', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
                  '{"a": 1}', '{1,2,3}', '{"a",NULL}', -129)
                """,
                "UPDATE typed SET b = false WHERE id = 1",
                "UPDATE typed SET id = 2 WHERE id = 1",
                "DELETE FROM typed WHERE id = 2",
                "INSERT INTO keyless VALUES ('k')",
                "TRUNCATE keyless",
                "SELECT pg_logical_emit_message(true, 'audit', 'hello')",
            ] {
                try connection.execute(statement)
            }
            end = try LSN(try connection.execute("SELECT pg_current_wal_lsn()").scalar ?? "")
        }

        func run(_ extra: [String], slot: String) throws -> [String] {
            try cluster.psql("SELECT pg_copy_logical_replication_slot('base', '\(slot)')")
            let result = try RunningProcess.pgrepl(
                [
                    "stream", "--dsn", cluster.dsn(), "--slot", slot, "--publication", "pub", "--format", "debezium",
                    "--end", "\(end)",
                ] + extra
            ).finish(within: 60)
            guard result.status == 0 else { throw CLITestError("pgrepl failed: \(result)") }
            return result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter {
                !$0.isEmpty
            }
        }
    }

    static let fixture = Result { try Fixture() }

    static func object(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
    }

    @Test func envelopeAndDefaultMappings() throws {
        let lines = try Self.fixture.get().run(["--topic-prefix", "shop"], slot: "dbz_default")
        let events = try lines.map(Self.object)
        #expect(events.map { $0["op"] as? String ?? "?" } == ["c", "u", "d", "c", "d", "c", "t", "m"], "\(lines)")
        let create = events[0]
        let after = try #require(create["after"] as? [String: Any])
        #expect(create["before"] is NSNull)
        // Debezium's documented mappings (decimal.handling.mode = precise, time.precision.mode =
        // adaptive, binary.handling.mode = bytes, interval.handling.mode = numeric).
        #expect(after["id"] as? Int == 1)
        #expect(after["n"] as? String == "AeII")  // 123400 (scale 4), two's complement, base64
        let variable = try #require(after["nv"] as? [String: Any])  // VariableScaleDecimal
        #expect(variable["scale"] as? Int == 1 && variable["value"] as? String == "Dw==")
        #expect(after["f8"] as? String == "NaN")
        #expect(after["b"] as? Bool == true)
        #expect(after["t"] as? String == "tab\there")
        #expect(after["by"] as? String == "3q2+7w==")
        #expect(after["d"] as? Int == 19_782)  // io.debezium.time.Date: days since the epoch
        #expect(after["ts"] as? Int64 == 1_709_212_455_500_000)  // MicroTimestamp
        #expect(after["ts3"] as? Int64 == 1_709_212_455_123)  // Timestamp (ms), precision 3
        #expect(after["tstz"] as? String == "2024-02-29T13:14:15.123456Z")  // ZonedTimestamp
        #expect(after["tm"] as? Int64 == 47_655_000_000)  // MicroTime
        #expect(after["tm3"] as? Int64 == 47_655_123)  // Time (ms), precision 3
        #expect(after["tmtz"] as? String == "07:44:15Z")  // ZonedTime, in UTC
        #expect(after["iv"] as? Int64 == 93_784_000_000)  // MicroDuration
        #expect(after["iv2"] as? Int64 == 2_629_800_000_000)  // a month as 30.4375 days
        #expect(after["u"] as? String == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        #expect(after["jb"] as? String == "{\"a\": 1}")  // io.debezium.data.Json
        #expect(after["ia"] as? [Int] == [1, 2, 3])
        #expect((after["ta"] as? [Any])?.count == 2 && (after["ta"] as? [Any])?[1] is NSNull)
        #expect(after["i8"] as? Int == -129)
        let source = try #require(create["source"] as? [String: Any])
        #expect(source["connector"] as? String == "postgresql")
        #expect(source["name"] as? String == "shop")
        #expect(source["db"] as? String == "postgres")
        #expect(source["schema"] as? String == "public" && source["table"] as? String == "typed")
        #expect(source["snapshot"] as? String == "false")
        #expect(source["txId"] is Int && source["lsn"] is Int && source["ts_ms"] is Int)
        #expect((source["sequence"] as? String)?.hasPrefix("[") == true)
        #expect(create["ts_ms"] is Int && create["transaction"] is NSNull)
        // An update under REPLICA IDENTITY DEFAULT has no before; a key change is a delete of the
        // old key and a create of the new row; a delete's before holds the key.
        #expect(events[1]["before"] is NSNull && (events[1]["after"] as? [String: Any])?["b"] as? Bool == false)
        #expect((events[2]["before"] as? [String: Any])?["id"] as? Int == 1 && events[2]["after"] is NSNull)
        #expect((events[3]["after"] as? [String: Any])?["id"] as? Int == 2)
        #expect((events[4]["before"] as? [String: Any])?["id"] as? Int == 2)
        let truncate = try #require(events[6]["source"] as? [String: Any])
        #expect(truncate["table"] as? String == "keyless" && events[6]["after"] is NSNull)
        let message = try #require(events[7]["message"] as? [String: Any])
        #expect(message["prefix"] as? String == "audit" && message["content"] as? String == "aGVsbG8=")
    }

    @Test(arguments: ["double", "string"])
    func decimalHandling(mode: String) throws {
        let lines = try Self.fixture.get().run(["--decimal-handling", mode], slot: "dbz_\(mode)")
        let after = try #require(try Self.object(lines[0])["after"] as? [String: Any])
        if mode == "double" {
            #expect(after["n"] as? Double == 12.34 && after["nv"] as? Double == 1.5, "\(after)")
        } else {
            #expect(after["n"] as? String == "12.3400" && after["nv"] as? String == "1.5", "\(after)")
        }
    }

    /// `--key-value`: `key<TAB>value` for `kcat -K'\t'`, the primary key as the key, a tombstone
    /// after each delete, an empty key for a table without one.
    @Test func keyValueLines() throws {
        let lines = try Self.fixture.get().run(["--key-value"], slot: "dbz_keys")
        let pairs = lines.map { line -> (String, String) in
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            return (parts[0], parts.count > 1 ? parts[1] : "<none>")
        }
        #expect(pairs.allSatisfy { $0.1 != "<none>" }, "\(lines)")
        #expect(pairs[0].0 == "{\"id\":1}")
        // The key change: delete of id 1, its tombstone, create of id 2; the delete of id 2 and its tombstone.
        #expect(pairs[2].0 == "{\"id\":1}" && pairs[3] == ("{\"id\":1}", ""))
        #expect(pairs[4].0 == "{\"id\":2}")
        #expect(pairs[5].0 == "{\"id\":2}" && pairs[6] == ("{\"id\":2}", ""))
        #expect(pairs[7].0 == "" && pairs[8].0 == "")
    }

    @Test func optionsNeedTheirFormat() throws {
        let result = try RunningProcess.pgrepl([
            "stream", "--dsn", "dbname=none", "--slot", "s", "--publication", "p", "--key-value",
        ]).finish(within: 30)
        #expect(result.status != 0 && result.stderr.contains("--format debezium"), "\(result)")
    }
}
