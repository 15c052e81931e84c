import Foundation
import PGLocalCluster
import PGReplication
import Testing

/// An initial snapshot is complete or it is redone: `pgrepl stream --create-slot
/// --initial-snapshot`, cut by SIGKILL at three points of its copy, by a full output disk and by a
/// closed pipe, copies again from the start on the next run of the same command, and the union of
/// every run's output, replayed into a mirror, equals the publication.
@Suite(.serialized) struct SnapshotInterruptionTests {
    static let rows = 60_000

    static let schema = """
        CREATE TABLE items (id int PRIMARY KEY, v text, pad text);
        INSERT INTO items SELECT g, 'v' || g, repeat('p', 20) FROM generate_series(1, \(rows)) g;
        CREATE TABLE marker (id serial PRIMARY KEY);
        CREATE PUBLICATION pub FOR TABLE items, marker;
        """

    /// Inserts and updates (no deletes: a row deleted between two runs' snapshots is absent from
    /// the second without a delete line, which a consumer replaying R lines cannot see).
    static func write(_ connection: PGConnection, _ round: Int) throws {
        try connection.execute(
            """
            UPDATE items SET v = 'u\(round)' WHERE id = \(1 + (round * 7919) % rows);
            INSERT INTO items VALUES (\(rows + 1 + round), 'n\(round)', 'x');
            """)
    }

    static func snapshotRows(_ text: String) -> Int { text.components(separatedBy: "\"action\":\"R\"").count - 1 }

    @Test(.timeLimit(.minutes(6))) func anInterruptedCopyIsRedoneByTheNextRun() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(Self.schema)
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let output = folder + "/out.jsonl"
        let command = [
            "stream", "--dsn", cluster.dsn(), "--slot", "snap", "--publication", "pub", "--create-slot",
            "--initial-snapshot", "--status-interval", "1",
        ]
        let writer = ConcurrentWriter(dsn: cluster.dsn(), pause: 5_000, Self.write)
        var outputs: [String] = []
        func slotExists() throws -> Bool {
            try cluster.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'snap'") == "1"
        }

        // SIGKILL early, half way and late in the copy. The output goes through a FIFO to a
        // reader that takes it byte by byte, so that the copy runs at the reader's pace.
        let fifo = folder + "/fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        let binary = try PGReplBinary.url().path
        let quoted = ([binary] + command).map { "'\($0)'" }.joined(separator: " ")
        for fraction in [0.05, 0.5, 0.9] {
            let file = folder + "/killed-\(fraction).jsonl"
            let reader = try RunningProcess(
                URL(fileURLWithPath: "/bin/sh"),
                ["-c", "while IFS= read -r line; do printf '%s\\n' \"$line\"; done < \(fifo) > \(file)"])
            let process = try RunningProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "exec \(quoted) > \(fifo)"])
            // About 110 bytes an R line.
            let threshold = Int(Double(Self.rows) * fraction) * 110
            #expect(eventually(seconds: 120) { fileSize(file) >= threshold }, "\(process.stderr)")
            process.signal(SIGKILL)
            _ = try process.finish(within: 10)
            _ = try reader.finish(within: 30)
            let copied = Self.snapshotRows(readTextFile(file))
            #expect(copied < Self.rows, "the copy ended before the kill at \(fraction): \(copied) rows")
            try #require(try !slotExists(), "a slot outlived a copy killed at \(fraction) of it")
            outputs.append(readTextFile(file))
        }

        // SIGTERM during the copy: a stop (130), and no slot.
        do {
            let file = folder + "/stopped.jsonl"
            let reader = try RunningProcess(
                URL(fileURLWithPath: "/bin/sh"),
                ["-c", "while IFS= read -r line; do printf '%s\\n' \"$line\"; done < \(fifo) > \(file)"])
            let process = try RunningProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "exec \(quoted) > \(fifo)"])
            #expect(eventually(seconds: 120) { fileSize(file) >= 100_000 }, "\(process.stderr)")
            process.signal(SIGTERM)
            let stopped = try process.finish(within: 30)
            _ = try reader.finish(within: 30)
            #expect(stopped.status == 130, "\(stopped)")
            try #require(try !slotExists(), "a slot outlived a copy stopped by SIGTERM")
            outputs.append(readTextFile(file))
        }

        // A full output disk (a small tmpfs; root, as in CI).
        let tiny = folder + "/tiny"
        _ = mkdir(tiny, 0o755)
        let mount = try RunningProcess(
            URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=512k", "tmpfs", tiny]
        ).finish()
        try #require(mount.status == 0, "mounting a tmpfs needs root (CI runs as root): \(mount)")
        // Cleanup: an unmount that fails leaves a tmpfs behind, and hides nothing the test checks.
        defer { _ = try? RunningProcess(URL(fileURLWithPath: "/bin/umount"), [tiny]).finish() }
        let full = try RunningProcess.pgrepl(command + ["--output", tiny + "/out.jsonl"]).finish(within: 120)
        #expect(full.status == 4 && full.stderr.contains("No space left on device"), "\(full)")
        try #require(try !slotExists(), "a slot outlived a copy cut by a full disk")
        outputs.append(readTextFile(tiny + "/out.jsonl"))

        // A reader that goes away: `| head -n 5`.
        let piped = try RunningProcess(
            URL(fileURLWithPath: "/bin/sh"), ["-c", "\(quoted) | head -n 5"]
        ).finish(within: 120)
        #expect(piped.stdout.split(separator: "\n").count == 5, "\(piped)")
        try #require(try !slotExists(), "a slot outlived a copy cut by a closed pipe")
        outputs.append(piped.stdout)

        // The same command again: a whole copy, then the stream.
        let process = try RunningProcess.pgrepl(command + ["--output", output])
        defer { process.signal(SIGKILL) }
        #expect(eventually(seconds: 120) { Self.snapshotRows(readTextFile(output)) >= Self.rows }, "\(process.stderr)")
        Thread.sleep(forTimeInterval: 1)
        writer.stop()
        try cluster.psql("INSERT INTO marker DEFAULT VALUES")
        #expect(eventually(seconds: 60) { readTextFile(output).contains("\"table\":\"marker\"") }, "\(process.stderr)")
        process.signal(SIGTERM)
        let last = try process.finish(within: 30)
        #expect(last.status == 130, "\(last)")
        outputs.append(readTextFile(output))

        var mirror = JSONLinesMirror()
        mirror.apply(outputs.joined(), keys: ["items": ["id"]])
        let expected = try JSONLinesMirror.select(
            ["items": "SELECT id, v, pad FROM items"], keys: ["items": ["id"]], dsn: cluster.dsn())
        let difference = JSONLinesMirror.difference(mirror.tables["items"] ?? [:], expected["items"] ?? [:])
        #expect(difference == nil, "\(difference ?? "")")
    }

    /// A handler error in the library's copy leaves no slot, and the next stream copies again.
    @Test(.timeLimit(.minutes(3)), arguments: [1, 2]) func aHandlerErrorLeavesNoSlot(workers: Int) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(
            """
            CREATE TABLE items (id int PRIMARY KEY, v text);
            INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 3000) g;
            CREATE PUBLICATION pub FOR TABLE items;
            """)
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "lib_snap", publications: ["pub"])
        configuration.createSlot = true
        configuration.initialSnapshot = true
        configuration.snapshotBatchSize = 500
        configuration.initialSnapshotWorkers = workers
        struct Refused: Error {}
        var seen = 0
        #expect(throws: Refused.self) {
            try ChangeStream(configuration).consume { event in
                guard case .snapshot(let batch) = event else { return }
                seen += batch.rows.count
                if seen >= 1500 { throw Refused() }
            }
        }
        try #require(try cluster.psql("SELECT count(*) FROM pg_replication_slots") == "0", "a slot outlived the copy")
        var copied = 0
        let stream = ChangeStream(configuration)
        try stream.consume { event in
            guard case .snapshot(let batch) = event else { return }
            copied += batch.rows.count
            if batch.isLast { stream.stop() }
        }
        #expect(copied == 3000)
        // The temporary slot the copy read from goes with its connection's backend, which may
        // take a moment to exit after run() returned.
        var slots = ""
        #expect(
            try eventually(seconds: 10) {
                slots = try cluster.psql("SELECT slot_name, temporary FROM pg_replication_slots")
                return slots == "lib_snap|f"
            }, "\(slots)")
    }
}

/// The size of a file in bytes (0 when it does not exist).
func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
}
