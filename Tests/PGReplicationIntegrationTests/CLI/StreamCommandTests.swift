import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import Synchronization
import Testing

/// `pgrepl stream`, run as a subprocess against a database of these tests' own (so that other
/// tests' slots decode none of this WAL's changes, and ours none of theirs).
@Suite("pgrepl stream", .serialized)
struct StreamCommandTests {
    @Test(
        "--format json lists the same rows and values as a wal2json slot created at the same LSN", .requires(.wal2json),
        .timeLimit(.minutes(3)))
    func matchesWal2JSON() throws {
        let db = try StreamTestDatabase.shared()
        let (orders, tags) = (TestServer.uniqueName("cli_orders"), TestServer.uniqueName("cli_tags"))
        let publication = TestServer.uniqueName("cli_pub")
        try db.sql(
            """
            CREATE TABLE \(orders) (id serial PRIMARY KEY, qty int, big bigint, small smallint, price numeric(12,3),
              f float8, r real, placed timestamptz, day date, tags text[], doc jsonb, raw bytea, u uuid, ok bool,
              note text, wall timestamp, span interval, addr inet);
            CREATE TABLE \(tags) (name text PRIMARY KEY, n numeric, ids int[]);
            CREATE PUBLICATION \(publication) FOR TABLE \(orders), \(tags);
            """)
        let (text, binary, reference) = (
            TestServer.uniqueName("cli_json"), TestServer.uniqueName("cli_bin"), TestServer.uniqueName("cli_w2j")
        )
        defer { for slot in [text, binary, reference] { TestServer.dropSlot(slot) } }
        // One slot, copied: all three start at the same position.
        try db.sql("SELECT pg_create_logical_replication_slot('\(text)', 'pgoutput')")
        try db.sql("SELECT pg_copy_logical_replication_slot('\(text)', '\(binary)')")
        try db.sql("SELECT pg_copy_logical_replication_slot('\(text)', '\(reference)', false, 'wal2json')")

        try db.sql(
            """
            INSERT INTO \(orders) (qty, big, small, price, f, r, placed, day, tags, doc, raw, u, ok, note, wall, span, addr) VALUES
              (1, 9007199254740993, -32768, 12.500, 1.5, 0.1, '2024-02-29 23:59:59.999999+02', '2024-02-29',
               '{a,"b c",NULL}', '{"k": [1, 2.50, "x"]}', '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true,
               'quote '' and "double" and \\ back', '1999-12-31 23:59:59', '1 year 2 mons -3 days 04:05:06', '10.1.2.3/8'),
              (2, NULL, 0, -0.001, 'NaN', '-Infinity', '-infinity', NULL, '{}', 'null', '', NULL, false, E'line\\nbreak ж 🐘', NULL, NULL, '::1');
            """)
        try db.sql(
            "INSERT INTO \(tags) VALUES ('x', 123456789012345678901234567890.123456789, '{{1,2},{3,4}}'), ('y', 'NaN', NULL)"
        )
        try db.sql(
            "BEGIN; UPDATE \(orders) SET qty = qty + 10, note = 'updated' WHERE id = 1; DELETE FROM \(tags) WHERE name = 'y'; COMMIT"
        )
        try db.sql("BEGIN; INSERT INTO \(orders) (qty) VALUES (999); ROLLBACK")
        try db.sql("UPDATE \(tags) SET name = 'z' WHERE name = 'x'")
        try db.sql("DELETE FROM \(orders) WHERE id = 2")
        try db.sql("INSERT INTO \(orders) (qty, f) SELECT g, g / 7.0 FROM generate_series(1, 50) g")
        try db.sql("TRUNCATE \(orders), \(tags)")
        try db.sql("INSERT INTO \(tags) VALUES ('after truncate', 1, '{5}')")
        let end = try db.currentLSN()

        let expected = try Wal2JSON.read(slot: reference, tables: [orders, tags], dsn: db.dsn)
        #expect(expected.count == 8, "\(expected.count) transactions from wal2json")
        for (slot, extra) in [(text, [String]()), (binary, ["--binary"])] {
            let run = try pgrepl(
                ["stream", "--dsn", db.dsn, "--slot", slot, "--publication", publication, "--end", end.description]
                    + StreamJSON.traceOptions + extra)
            #expect(run.status == 0, "\(run)")
            let ours = try StreamJSON.transactions(run.stdout)
            #expect(ours.count == expected.count, "\(extra)")
            for (mine, theirs) in zip(ours, expected) {
                #expect(mine == theirs, "\(extra): ours\n\(mine.changes)\nwal2json\n\(theirs.changes)")
            }
            #expect(!run.stdout.contains("\"value\":999}"), "the rolled-back insert was printed")
            // Acknowledged exactly up to what was written.
            #expect(try TestServer.confirmedFlush(slot) >= (ours.last?.endLSN ?? 0))
        }
    }

    /// SIGKILL, then SIGINT, then a run to --end, all appending to one file while a writer commits.
    @Test(
        "SIGKILL or SIGINT during --output: the slot never passes the file, a restart loses nothing",
        .requires(.wal2json),
        .timeLimit(.minutes(4)))
    func killedAndResumed() throws {
        let db = try StreamTestDatabase.shared()
        let table = TestServer.uniqueName("cli_kill")
        let publication = TestServer.uniqueName("cli_kpub")
        try db.sql(
            "CREATE TABLE \(table) (id serial PRIMARY KEY, v int, note text); CREATE PUBLICATION \(publication) FOR TABLE \(table)"
        )
        let (slot, reference) = (TestServer.uniqueName("cli_kill"), TestServer.uniqueName("cli_kref"))
        defer { for name in [slot, reference] { TestServer.dropSlot(name) } }
        try db.sql("SELECT pg_create_logical_replication_slot('\(slot)', 'pgoutput')")
        try db.sql("SELECT pg_copy_logical_replication_slot('\(slot)', '\(reference)', false, 'wal2json')")
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let file = folder.path + "/changes.jsonl"

        let writer = BackgroundWriter(dsn: db.dsn, table: table)
        writer.start()
        defer { writer.stop() }
        let arguments =
            [
                "stream", "--dsn", db.dsn, "--slot", slot, "--publication", publication, "--output", file,
                "--status-interval", "1",
            ] + StreamJSON.traceOptions

        var stops: [(signal: Int32, confirmed: LSN, fileEnd: LSN)] = []
        for signal in [SIGKILL, SIGINT] {
            let before = try StreamJSON.commitCount(file)
            let process = try RunningProcess.pgrepl(arguments)
            defer { process.signal(SIGKILL) }
            let confirmedBefore = try TestServer.confirmedFlush(slot)
            // Kill it while it runs, after the slot moved (so that there is something to check).
            try waitFor("20 more transactions in the file and the slot moved") {
                guard process.isRunning else { return true }
                return try StreamJSON.commitCount(file) >= before + 20
                    && TestServer.confirmedFlush(slot) > confirmedBefore
            }
            process.signal(signal)
            let result = try process.finish()
            if signal == SIGINT {
                #expect(result.status == 130, "\(result)")
                #expect(result.stderr.contains("stopped by SIGINT"), "\(result)")
            } else {
                #expect(result.status == 128 + SIGKILL, "\(result)")
            }
            // The walsender notices the lost connection and releases the slot.
            try waitFor("the slot released") {
                try db.sql("SELECT active FROM pg_replication_slots WHERE slot_name = '\(slot)'").scalar == "f"
            }
            let confirmed = try TestServer.confirmedFlush(slot)
            let written = try StreamJSON.transactions(readTextFile(file))
            stops.append((signal, confirmed, written.map(\.endLSN).max() ?? 0))
        }
        writer.stop()
        let end = try db.currentLSN()
        let last = try pgrepl(arguments + ["--end", end.description])
        #expect(last.status == 0, "\(last)")

        let expected = try Wal2JSON.read(slot: reference, tables: [table], dsn: db.dsn)
        let written = try StreamJSON.transactions(readTextFile(file))
        #expect(writer.failure == nil, "\(writer.failure ?? "")")
        #expect(writer.committed >= 30)
        #expect(
            expected.count == writer.committed,
            "wal2json saw \(expected.count), the writer committed \(writer.committed)")

        // Nothing lost: every committed transaction is in the file, with the same rows.
        let byXID = Dictionary(written.map { ($0.xid, $0) }, uniquingKeysWith: { first, _ in first })
        for transaction in expected {
            #expect(byXID[transaction.xid] == transaction, "xid \(transaction.xid) missing or different")
        }
        // The slot never passed the file: at each stop, every transaction ending at or before the
        // confirmed position had been written before that stop.
        for stop in stops {
            for transaction in expected where transaction.endLSN <= stop.confirmed {
                #expect(
                    transaction.endLSN <= stop.fileEnd,
                    "signal \(stop.signal): \(transaction.endLSN) acknowledged but not in the file")
            }
        }
        // Duplicates only at a restart boundary: after the confirmed position of a stop, before its file end.
        let counts = Dictionary(written.map { ($0.xid, 1) }, uniquingKeysWith: +)
        for transaction in written where (counts[transaction.xid] ?? 0) > 1 {
            #expect(counts[transaction.xid] == 2)
            #expect(
                stops.contains { transaction.endLSN > $0.confirmed && transaction.endLSN <= $0.fileEnd },
                "xid \(transaction.xid) repeated away from a restart")
        }
        // Whole lines only.
        #expect(readTextFile(file).hasSuffix("\n"))
    }

    @Test("errors: one line, a documented status, no password, nothing half-written", .timeLimit(.minutes(2)))
    func errors() throws {
        let db = try StreamTestDatabase.shared()
        let publication = TestServer.uniqueName("cli_epub")
        let table = TestServer.uniqueName("cli_etab")
        try db.sql("CREATE TABLE \(table) (id int PRIMARY KEY); CREATE PUBLICATION \(publication) FOR TABLE \(table)")
        let slot = TestServer.uniqueName("cli_eslot")
        defer { TestServer.dropSlot(slot) }
        try db.sql("SELECT pg_create_logical_replication_slot('\(slot)', 'pgoutput')")
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let base = ["stream", "--dsn", db.dsn, "--slot", slot, "--publication", publication]

        let missingSlot = TestServer.uniqueName("cli_nosuch")
        expectFailure(
            try pgrepl(["stream", "--dsn", db.dsn, "--slot", missingSlot, "--publication", publication]), status: 3,
            containing: ["replication slot \"\(missingSlot)\" does not exist", "SQLSTATE 42704", "--create-slot"])
        expectFailure(
            try pgrepl(["stream", "--dsn", db.dsn, "--slot", slot, "--publication", "no_such_pub"]), status: 3,
            containing: ["publication \"no_such_pub\" does not exist", "SQLSTATE 42704"])
        expectFailure(try pgrepl(base + ["--start", "0/XYZ"]), status: 1, containing: ["0/XYZ", "--start"])
        expectFailure(try pgrepl(base + ["--end", "12"]), status: 1, containing: ["--end"])
        expectFailure(try pgrepl(base + ["--protocol", "7"]), status: 1, containing: ["--protocol"])
        expectFailure(try pgrepl(base + ["--format", "xml"]), status: 1, containing: ["xml"])

        // Unwritable output: fails before connecting (a server that is down is not even tried), creates nothing.
        let port = try unusedPort()
        let down = "host=127.0.0.1 port=\(port) user=postgres password=s3cret-pw connect_timeout=5"
        let regular = folder.path + "/regular"
        _ = FileManager.default.createFile(atPath: regular, contents: Data("x\n".utf8))
        for (path, reason) in [
            (folder.path + "/missing/out.jsonl", "No such file or directory"),
            (regular + "/out.jsonl", "Not a directory"), (folder.path, "Is a directory"),
        ] {
            let result = try pgrepl([
                "stream", "--dsn", down, "--slot", slot, "--publication", publication, "--output", path,
            ])
            expectFailure(result, status: 4, containing: ["--output \(path)", reason])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["regular"])

        // Server down: status 2, no password; the output file it opened first is not left behind.
        let unused = folder.path + "/never.jsonl"
        let result = try pgrepl([
            "stream", "--dsn", down, "--slot", slot, "--publication", publication, "--output", unused,
        ])
        expectFailure(result, status: 2, containing: ["connecting", "\(port)"])
        #expect(!result.stderr.contains("s3cret-pw"))
        #expect(!FileManager.default.fileExists(atPath: unused))

        // Wrong password.
        let cluster = try LocalCluster.start(
            .init(authentication: .scramPassword(user: "postgres", password: "right-pw")))
        defer { cluster.destroy() }
        let wrong = cluster.dsn().replacingOccurrences(of: "password=right-pw", with: "password=wrong-pw")
        let denied = try pgrepl(["stream", "--dsn", wrong, "--slot", slot, "--publication", publication])
        expectFailure(denied, status: 2, containing: ["password authentication failed"])
        #expect(!denied.stderr.contains("wrong-pw") && !denied.stderr.contains("right-pw"))
        let uri = "postgresql://postgres:wrong-pw@127.0.0.1:\(cluster.port)/postgres"
        let deniedURI = try pgrepl(["stream", "--dsn", uri, "--slot", slot, "--publication", publication])
        expectFailure(deniedURI, status: 2, containing: ["password authentication failed"])
        #expect(!deniedURI.stderr.contains("wrong-pw"))
    }

    @Test("output disk full: one line, status 4, nothing acknowledged past the file", .timeLimit(.minutes(2)))
    func outputDiskFull() throws {
        let db = try StreamTestDatabase.shared()
        let publication = TestServer.uniqueName("cli_fpub")
        let table = TestServer.uniqueName("cli_ftab")
        try db.sql(
            "CREATE TABLE \(table) (id int PRIMARY KEY, v text); CREATE PUBLICATION \(publication) FOR TABLE \(table)")
        let slot = TestServer.uniqueName("cli_fslot")
        defer { TestServer.dropSlot(slot) }
        try db.sql("SELECT pg_create_logical_replication_slot('\(slot)', 'pgoutput')")
        try db.sql("INSERT INTO \(table) SELECT g, repeat('x', 100) FROM generate_series(1, 400) g")
        let end = try db.currentLSN()
        let folder = try TemporaryFolder()
        defer { folder.remove() }

        // A real full disk: a 16 kB tmpfs (needs root, as the tests run in CI). Where mounting is
        // not allowed, a 4 kB file-size limit (`ulimit -f`, writes fail with EFBIG) stands in.
        let mountPoint = folder.path + "/tiny"
        _ = mkdir(mountPoint, 0o755)
        // Either way a full output is tested: a mount that fails here only picks the other way.
        let mounted =
            ProcessInfo.processInfo.environment["PGREPL_TEST_NO_MOUNT"] == nil
            && (try? RunningProcess(
                URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=16k", "tmpfs", mountPoint]
            ).finish().status) == 0
        // Cleanup: a failed unmount leaves a tmpfs behind and hides nothing the test checks.
        defer { if mounted { _ = try? RunningProcess(URL(fileURLWithPath: "/bin/umount"), [mountPoint]).finish() } }
        let output = mountPoint + "/out.jsonl"
        let arguments =
            [
                "stream", "--dsn", db.dsn, "--slot", slot, "--publication", publication, "--end", end.description,
                "--output", output, "--status-interval", "1",
            ] + StreamJSON.traceOptions
        let result: RunResult
        if mounted {
            result = try pgrepl(arguments)
        } else {
            let binary = try PGReplBinary.url().path
            let script = "ulimit -f 4; trap '' XFSZ; exec \"$0\" \"$@\""
            result = try RunningProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", script, binary] + arguments).finish()
        }
        expectFailure(
            result, status: 4, containing: ["--output", mounted ? "No space left on device" : "File too large"])
        // Only whole transactions reached the file, and the slot never passed what is in it.
        let written = try StreamJSON.transactions(readTextFile(output))
        #expect(written.flatMap(\.changes).count < 400)
        #expect(readTextFile(output).isEmpty || readTextFile(output).hasSuffix("\n"))
        let confirmed = try TestServer.confirmedFlush(slot)
        #expect(confirmed < end)
        // With room again, the same slot delivers the rest: nothing is lost.
        let retry = try pgrepl(
            ["stream", "--dsn", db.dsn, "--slot", slot, "--publication", publication, "--end", end.description]
                + StreamJSON.traceOptions)
        #expect(retry.status == 0, "\(retry)")
        let rest = try StreamJSON.transactions(retry.stdout).flatMap(\.changes).count
        #expect(rest + written.flatMap(\.changes).count >= 400)
    }

    @Test(
        "--format text and raw; --create-slot; a restart resumes from the slot", .timeLimit(.minutes(2)))
    func textAndRaw() throws {
        let db = try StreamTestDatabase.shared()
        let table = TestServer.uniqueName("cli_text")
        let publication = TestServer.uniqueName("cli_tpub")
        try db.sql(
            "CREATE TABLE \(table) (id int PRIMARY KEY, note text); CREATE PUBLICATION \(publication) FOR TABLE \(table)"
        )
        let (slot, raw) = (TestServer.uniqueName("cli_tslot"), TestServer.uniqueName("cli_raw"))
        defer { for name in [slot, raw] { TestServer.dropSlot(name) } }

        // --create-slot with an --end already passed: creates the slot, prints nothing, exits 0.
        let created = try pgrepl([
            "stream", "--dsn", db.dsn, "--slot", slot, "--publication", publication, "--create-slot", "--end", "0/1",
        ])
        #expect(created.status == 0 && created.stdout.isEmpty, "\(created)")
        try db.sql("SELECT pg_copy_logical_replication_slot('\(slot)', '\(raw)')")
        try db.sql("INSERT INTO \(table) VALUES (1, 'two words'), (2, NULL)")
        try db.sql("UPDATE \(table) SET note = 'it''s' WHERE id = 2")
        let first = try db.currentLSN()
        let text = try pgrepl([
            "stream", "--dsn", db.dsn, "--slot", slot, "--publication", publication, "--format", "text", "--end",
            first.description,
        ])
        #expect(text.status == 0, "\(text)")
        let lines = text.stdout.split(separator: "\n")
        #expect(lines.count == 7, "\(text.stdout)")
        #expect(lines.contains { $0.hasSuffix("INSERT public.\(table) id=1 note='two words'") }, "\(text.stdout)")
        #expect(lines.contains { $0.hasSuffix("INSERT public.\(table) id=2 note=NULL") }, "\(text.stdout)")
        #expect(lines.contains { $0.hasSuffix("UPDATE public.\(table) id=2 note='it''s'") }, "\(text.stdout)")
        #expect(
            lines.filter { $0.contains(" BEGIN") }.count == 2
                && lines.filter { $0.contains(" COMMIT next ") }.count == 2)

        // A second run continues after what the first acknowledged.
        try db.sql("DELETE FROM \(table) WHERE id = 1")
        let second = try db.currentLSN()
        let resumed = try pgrepl([
            "stream", "--dsn", db.dsn, "--slot", slot, "--publication", publication, "--format", "text", "--end",
            second.description,
        ])
        #expect(resumed.status == 0, "\(resumed)")
        #expect(resumed.stdout.split(separator: "\n").count == 3, "\(resumed.stdout)")
        #expect(resumed.stdout.contains("DELETE public.\(table) id=1"), "\(resumed.stdout)")

        // Raw: "LSN hex" lines that decode back to the same messages (B, R, I, I, C, B, U, C, B, D, C).
        let rawRun = try pgrepl([
            "stream", "--dsn", db.dsn, "--slot", raw, "--publication", publication, "--format", "raw", "--end",
            second.description, "--protocol", "1",
        ])
        #expect(rawRun.status == 0, "\(rawRun)")
        var decoder = PGOutputDecoder(protocolVersion: 1)
        var kinds = ""
        for line in rawRun.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ")
            #expect(parts.count == 2, "\(line)")
            _ = try LSN(parts.first ?? "")
            let bytes = try #require(hexBytes(parts.last ?? ""), "\(line)")
            let message = try decoder.decode(bytes)
            kinds.append(Character(UnicodeScalar(bytes.first ?? 0)))
            if case .insert(let insert) = message, let relation = decoder.relation(for: insert.relationOID) {
                #expect(relation.name == table)
            }
        }
        #expect(kinds == "BRIICBUCBDC", "\(rawRun.stdout)")

        // Raw runs on the same path as the other formats: what it wrote was acknowledged, so the
        // next run continues after it (a new session describes the table again: R).
        try db.sql("DELETE FROM \(table) WHERE id = 2")
        let third = try db.currentLSN()
        let rawAgain = try pgrepl([
            "stream", "--dsn", db.dsn, "--slot", raw, "--publication", publication, "--format", "raw", "--end",
            third.description, "--protocol", "1",
        ])
        #expect(rawAgain.status == 0, "\(rawAgain)")
        let again = rawAgain.stdout.split(separator: "\n").compactMap { line in
            line.split(separator: " ").last.flatMap { hexBytes($0)?.first }.map { Character(UnicodeScalar($0)) }
        }
        #expect(String(again) == "BRDC", "\(rawAgain.stdout)")

        // An --end that no published change reaches: the run ends once the slot's position
        // passes it, as the other formats' do (the old raw engine waited for a message forever).
        let unpublished = TestServer.uniqueName("cli_unpublished")
        try db.sql("CREATE TABLE \(unpublished) (id int); INSERT INTO \(unpublished) VALUES (1)")
        let quiet = try RunningProcess.pgrepl([
            "stream", "--dsn", db.dsn, "--slot", raw, "--publication", publication, "--format", "raw", "--end",
            try db.currentLSN().description, "--status-interval", "1",
        ]).finish(within: 30)
        #expect(quiet.status == 0 && quiet.stdout.isEmpty, "\(quiet)")
    }
}

/// Brings values to the form both sides share where our JSON deliberately differs from wal2json's.
/// The database these tests write in, created once per test process.
struct StreamTestDatabase: Sendable {
    let dsn: String

    private static let created = Mutex<Result<StreamTestDatabase, any Error>?>(nil)

    static func shared() throws -> StreamTestDatabase {
        try created.withLock { created in
            if let created { return try created.get() }
            let result = Result {
                let name = TestServer.uniqueName("pgrepl_cli")
                try TestServer.sql("CREATE DATABASE \(name)")
                return StreamTestDatabase(dsn: try TestServer.dsn("dbname=\(name)"))
            }
            created = result
            return try result.get()
        }
    }

    @discardableResult
    func sql(_ statement: String) throws -> PGConnection.QueryResult {
        let connection = try PGConnection(dsn)
        defer { connection.close() }
        return try connection.execute(statement)
    }

    func currentLSN() throws -> LSN { try LSN(sql("SELECT pg_current_wal_lsn()").scalar ?? "") }
}

/// Reads `pgrepl stream --format json` output back into comparable transactions.
enum StreamJSON {
    /// What the parser needs beyond wal2json's defaults: xids, positions and type OIDs.
    static let traceOptions = ["-o", "include-xids=1", "-o", "include-lsn=1", "-o", "include-type-oids=1"]

    /// The complete transactions (B … C) in the text, in order; a trailing incomplete one is left out.
    static func transactions(_ text: String) throws -> [ComparableTransaction] {
        var transactions: [ComparableTransaction] = []
        var current: ComparableTransaction?
        for line in text.split(separator: "\n") {
            guard case .object(let object) = try RawJSON.parse(String(line)),
                case .string(let action)? = object["action"]
            else {
                throw CLITestError("not a JSON object with an action: \(line)")
            }
            switch action {
            case "B":
                guard case .number(let xid)? = object["xid"] else { throw CLITestError("B without xid: \(line)") }
                current = ComparableTransaction(xid: UInt32(xid) ?? 0, changes: [])
            case "C":
                guard var done = current, case .string(let next)? = object["nextlsn"] else {
                    throw CLITestError("C without B: \(line)")
                }
                done.endLSN = try LSN(next)
                if !done.changes.isEmpty { transactions.append(done) }
                current = nil
            case "I", "U", "D", "T":
                guard case .string(let table)? = object["table"] else { throw CLITestError("no table: \(line)") }
                var values: [String: PGValue] = [:]
                if case .array(let columns)? = action == "D" ? object["identity"] : object["columns"] {
                    for case .object(let column) in columns {
                        guard case .string(let name)? = column["name"], case .number(let oid)? = column["typeoid"]
                        else {
                            throw CLITestError("column without name or typeoid: \(line)")
                        }
                        values[name] = try Wal2JSON.value(column["value"], typeOID: UInt32(oid) ?? 0)
                    }
                }
                current?.changes.append(ComparableChange(action: Character(action), table: table, values: values))
            default:
                continue
            }
        }
        return transactions
    }

    /// The number of C lines in a file (0 when it does not exist yet).
    static func commitCount(_ path: String) throws -> Int {
        let text = readTextFile(path)
        return text.split(separator: "\n").filter { $0.hasPrefix("{\"action\":\"C\"") }.count
    }
}

/// Bytes from hex digits, nil for anything else.
func hexBytes(_ text: some StringProtocol) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    for index in stride(from: 0, to: digits.count, by: 2) {
        guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else {
            return nil
        }
        bytes.append(byte)
    }
    return bytes
}

/// Commits small transactions (inserts, an update, sometimes a delete or a rollback) on a thread
/// until stopped, at most 2 000.
final class BackgroundWriter: @unchecked Sendable {
    private let dsn: String
    private let table: String
    private let state = Mutex((stop: false, committed: 0, done: false, failure: String?.none))

    init(dsn: String, table: String) {
        self.dsn = dsn
        self.table = table
    }

    var committed: Int { state.withLock { $0.committed } }
    /// The first write the server refused: the writer stops there, and the test fails on it.
    var failure: String? { state.withLock { $0.failure } }

    func start() {
        let thread = Thread { [self] in
            defer { state.withLock { $0.done = true } }
            let connection: PGConnection
            do {
                connection = try PGConnection(dsn)
            } catch {
                state.withLock { $0.failure = "\(error)" }
                return
            }
            defer { connection.close() }
            for round in 0..<2000 {
                if state.withLock({ $0.stop }) { return }
                let rollback = round % 7 == 3
                do {
                    try connection.execute("BEGIN")
                    try connection.execute(
                        "INSERT INTO \(table) (v, note) SELECT \(round), 'round ' || g FROM generate_series(1, \(1 + round % 3)) g"
                    )
                    try connection.execute("UPDATE \(table) SET v = v + 1 WHERE id = (SELECT max(id) FROM \(table))")
                    if round % 5 == 4 {
                        try connection.execute("DELETE FROM \(table) WHERE id = (SELECT min(id) FROM \(table))")
                    }
                    try connection.execute(rollback ? "ROLLBACK" : "COMMIT")
                    if !rollback { state.withLock { $0.committed += 1 } }
                } catch {
                    state.withLock { $0.failure = "\(error)" }
                    return
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        thread.start()
    }

    /// Stops and waits for the thread.
    func stop() {
        state.withLock { $0.stop = true }
        while !state.withLock({ $0.done }) { Thread.sleep(forTimeInterval: 0.01) }
    }
}

/// Runs `pgrepl` with an argument list to the end.
func pgrepl(_ arguments: [String]) throws -> RunResult {
    try RunningProcess.pgrepl(arguments).finish()
}
