import Foundation
import PGLocalCluster
import PGReplication
import Testing

/// `pgrepl stream --format json` is wal2json's format-version 2: for every option, in text and
/// binary mode, every line equals the line wal2json writes for the same change, read from a
/// wal2json slot created at the same point.
@Suite(.serialized, .requires(.wal2json)) struct Wal2JSONFormatTests {
    /// The workload both slots decode: mixed types, the three kinds of replica identity, TOAST,
    /// a key change, truncates, messages, a rolled-back savepoint.
    static let schema = """
        CREATE TABLE t_default (id int PRIMARY KEY, i2 int2, i8 int8, n numeric(14,4), f4 real, f8 double precision,
          b bool, t text, vc varchar(80), c char(5), by bytea, d date, ts timestamp, tstz timestamptz, tm time,
          iv interval, u uuid, j json, jb jsonb, ia int[], ta text[], ip inet, big text,
          created timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00');
        ALTER TABLE t_default ALTER COLUMN big SET STORAGE EXTERNAL;
        CREATE TABLE t_full (id int, v text, big text);
        ALTER TABLE t_full REPLICA IDENTITY FULL;
        ALTER TABLE t_full ALTER COLUMN big SET STORAGE EXTERNAL;
        CREATE TABLE t_index (a int NOT NULL, b text NOT NULL, v text);
        CREATE UNIQUE INDEX t_index_ab ON t_index (a, b);
        ALTER TABLE t_index REPLICA IDENTITY USING INDEX t_index_ab;
        CREATE DOMAIN posint AS int CHECK (VALUE > 0);
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        CREATE TABLE "T user" (id serial PRIMARY KEY, dom posint, m mood, "quoted col" text);
        CREATE TABLE marker (id serial PRIMARY KEY);
        CREATE PUBLICATION pub FOR ALL TABLES;
        """

    static let workload = [
        """
        INSERT INTO t_default VALUES (1, 2, 3, 12.34, 1.5, 2.25, true, E'he said "hi"\\n\\ttab \\\\ back \\u00e9 \\x01',
          'varchar', 'ab', '\\xdeadbeef', '2024-02-29', '2024-02-29 13:14:15.5', '2024-02-29 13:14:15.123456+00',
          '13:14:15', '1 day 02:03:04', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": {"c": null}}',
          '{1,2,3}', '{"a b","c,d",NULL}', '10.0.0.1', repeat('toast', 2000))
        """,
        """
        INSERT INTO t_default (id, n, f4, f8, b, tstz) VALUES (2, 'NaN', 'Infinity', '-Infinity', false, '1999-12-31 23:59:59+05:30'),
          (3, -0.5, 'NaN', 1e100, NULL, 'infinity')
        """,
        "UPDATE t_default SET i2 = 5 WHERE id = 1",
        "UPDATE t_default SET id = 10 WHERE id = 2",
        "DELETE FROM t_default WHERE id = 10",
        "INSERT INTO t_full VALUES (1, 'one', repeat('big', 3000)), (2, 'two', NULL)",
        "UPDATE t_full SET v = 'uno' WHERE id = 1",
        "DELETE FROM t_full WHERE id = 2",
        "INSERT INTO t_index VALUES (1, 'x', 'v1'), (2, 'y', 'v2')",
        "UPDATE t_index SET v = 'changed' WHERE a = 1",
        "UPDATE t_index SET b = 'z' WHERE a = 2",
        "DELETE FROM t_index WHERE a = 1",
        "INSERT INTO \"T user\" (dom, m, \"quoted col\") VALUES (5, 'happy', 'q')",
        "SELECT pg_logical_emit_message(true, 'keep', 'transactional \"quoted\"')",
        "SELECT pg_logical_emit_message(false, 'drop', 'non-transactional')",
        "BEGIN; INSERT INTO t_index VALUES (3, 'a', NULL); SAVEPOINT s; INSERT INTO t_index VALUES (4, 'b', NULL); ROLLBACK TO s; INSERT INTO t_index VALUES (5, 'c', NULL); COMMIT",
        "TRUNCATE t_full, t_index",
        "DELETE FROM t_default",
    ]

    /// The option sets, each run in text and in binary mode.
    static let optionSets: [[String]] = [
        [],
        ["include-xids=1", "include-timestamp=1", "include-lsn=1", "include-type-oids=1"],
        ["include-pk=1", "include-not-null=1", "include-default=1", "include-column-positions=1", "include-typmod=0"],
        ["include-types=0", "include-schemas=0", "include-transaction=0"],
        ["actions=insert,delete", "include-domain-data-type=1"],
        ["add-tables=public.t_default,public.t_full,*.marker", "filter-tables=public.t_full"],
        ["add-msg-prefixes=keep,drop", "filter-msg-prefixes=drop", "include-xids=on", "include-timestamp=yes"],
    ]

    final class Fixture: @unchecked Sendable {
        let cluster: LocalCluster
        let end: LSN

        init() throws {
            cluster = try LocalCluster.start(testClusterConfiguration)
            // A zone with a half-hour offset: timestamps follow the server's TimeZone.
            try cluster.psql("ALTER DATABASE postgres SET timezone = 'Asia/Kolkata'")
            try cluster.psql(Wal2JSONFormatTests.schema)
            try cluster.psql("SELECT pg_create_logical_replication_slot('w2j', 'wal2json')")
            try cluster.psql("SELECT pg_create_logical_replication_slot('base', 'pgoutput')")
            let connection = try PGConnection(cluster.dsn())
            defer { connection.close() }
            for statement in Wal2JSONFormatTests.workload { try connection.execute(statement) }
            try connection.execute("INSERT INTO marker DEFAULT VALUES")
            end = try LSN(try connection.execute("SELECT pg_current_wal_lsn()").scalar ?? "")
        }

        /// wal2json's lines up to the marker's commit, without the B/C pairs of transactions
        /// with no published change (pgoutput does not send those; wal2json writes them).
        func wal2json(_ options: [String]) throws -> [String] {
            let connection = try PGConnection(cluster.dsn())
            defer { connection.close() }
            var arguments = ["'format-version', '2'"]
            for option in options {
                let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
                arguments.append("'\(parts[0])', '\(parts.count > 1 ? parts[1] : "1")'")
            }
            let rows = try connection.execute(
                "SELECT data FROM pg_logical_slot_peek_changes('w2j', '\(end)', NULL, \(arguments.joined(separator: ", ")))"
            ).rows.compactMap { $0.first ?? nil }
            return Wal2JSONFormatTests.droppingEmptyTransactions(rows)
        }

        /// `pgrepl stream` on a copy of the pgoutput slot, to the marker.
        func pgrepl(_ options: [String], binary: Bool, run: Int) throws -> [String] {
            let slot = "run\(run)"
            try cluster.psql("SELECT pg_copy_logical_replication_slot('base', '\(slot)')")
            let folder = try temporaryFolder()
            defer { removeTemporary(folder) }
            let file = folder + "/out.jsonl"
            var arguments = [
                "stream", "--dsn", cluster.dsn(), "--slot", slot, "--publication", "pub", "--end", "\(end)",
                "--output", file,
            ]
            if binary { arguments.append("--binary") }
            for option in options { arguments += ["-o", option] }
            let result = try RunningProcess.pgrepl(arguments).finish(within: 60)
            guard result.status == 0 else { throw CLITestError("pgrepl failed: \(result)") }
            return Wal2JSONFormatTests.droppingEmptyTransactions(
                readTextFile(file).split(separator: "\n").map(String.init))
        }
    }

    /// Without the B/C pairs of transactions that wrote no line (on both sides: filtered by the
    /// options; on wal2json's, also those pgoutput never sends).
    static func droppingEmptyTransactions(_ lines: [String]) -> [String] {
        var out: [String] = []
        for line in lines {
            if line.hasPrefix("{\"action\":\"C\""), let last = out.last, last.hasPrefix("{\"action\":\"B\"") {
                out.removeLast()
                continue
            }
            out.append(line)
        }
        return out
    }

    static let fixture = Result { try Fixture() }

    @Test(arguments: Array(optionSets.indices), [false, true])
    func everyLineEqualsWal2JSON(optionSet: Int, binary: Bool) throws {
        let fixture = try Self.fixture.get()
        var options = Self.optionSets[optionSet]
        // Binary values of user-defined types (a domain, an enum) are not decoded to text.
        if binary { options.append("filter-tables=public.T\\ user") }
        let expected = try fixture.wal2json(options)
        let ours = try fixture.pgrepl(options, binary: binary, run: optionSet * 2 + (binary ? 1 : 0))
        #expect(expected.count > 5)
        for (index, (mine, theirs)) in zip(ours, expected).enumerated() where mine != theirs {
            // Where they part, with some context (values can be long).
            let common = zip(mine, theirs).prefix { $0 == $1 }.count
            let from = max(0, common - 120)
            Issue.record(
                "line \(index + 1) differs at character \(common):\n  pgrepl:   …\(mine.dropFirst(from).prefix(300))\n  wal2json: …\(theirs.dropFirst(from).prefix(300))"
            )
            break
        }
        #expect(ours.count == expected.count, "pgrepl wrote \(ours.count) lines, wal2json \(expected.count)")
    }

    @Test func unknownOptionsAndBadValuesAreOneErrorLine() throws {
        for (option, part) in [
            ("include-nothing=1", "unknown option"), ("include-xids=maybe", "not a boolean"),
            ("actions=insert,upsert", "unknown action"), ("format-version=1", "format-version 2"),
            ("add-tables=justatable", "not schema.table"),
        ] {
            let result = try RunningProcess.pgrepl([
                "stream", "--dsn", "dbname=none", "--slot", "s", "--publication", "p", "-o", option,
            ]).finish(within: 30)
            #expect(result.status != 0, "\(option): \(result)")
            #expect(result.stderr.contains(part), "\(option): \(result)")
        }
    }
}
