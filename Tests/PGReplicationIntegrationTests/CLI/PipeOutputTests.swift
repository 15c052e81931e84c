import Foundation
import PGLocalCluster
import PGReplication
import Testing

/// `pgrepl stream` into a pipe acknowledges only what the reader took out of it: `| head`, a
/// reader killed mid-stream and a slow reader lose nothing, and a second run delivers every
/// transaction the first reader did not take.
///
/// Every transaction of the workload is one insert of a fixed width, so its lines are `size`
/// bytes and transaction `k` ends at byte `(k + 1) · size` of the first run's output.
@Suite(.serialized) struct PipeOutputTests {
    static let count = 400
    static let firstID = 1000

    struct Setup {
        var cluster: LocalCluster
        var end: LSN
        var command: [String]
        /// The bytes of one transaction's lines.
        var size = 0
    }

    private func setUp() throws -> Setup {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        try cluster.psql(
            """
            CREATE TABLE pipe (id int PRIMARY KEY, v text);
            CREATE PUBLICATION pub FOR TABLE pipe;
            """)
        try cluster.psql("SELECT pg_create_logical_replication_slot('pipe_slot', 'pgoutput')")
        // One transaction each (psql -c would run the statements as one without BEGIN and COMMIT).
        let statements = (0..<Self.count).map {
            "BEGIN; INSERT INTO pipe VALUES (\(Self.firstID + $0), repeat('v', 300)); COMMIT;"
        }
        try cluster.psql(statements.joined(separator: "\n"))
        let end = try LSN(cluster.psql("SELECT pg_current_wal_lsn()"))
        let command =
            [try PGReplBinary.url().path]
            + ["stream", "--dsn", cluster.dsn(), "--slot", "pipe_slot", "--publication", "pub", "--end", "\(end)"]
            // Status updates every second: what pgrepl acknowledges reaches the slot while the
            // reader still sleeps.
            + ["--status-interval", "1"]
        return Setup(cluster: cluster, end: end, command: command)
    }

    /// Runs the first run as `pgrepl … | reader` in a shell.
    private func runPiped(_ setup: Setup, reader: String) throws -> RunningProcess {
        let quoted = setup.command.map { "'\($0)'" }.joined(separator: " ")
        return try RunningProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "\(quoted) | \(reader)"])
    }

    /// The ids of the transactions whose C line is in `text`.
    static func committedIDs(_ text: String) -> Set<Int> {
        var ids: Set<Int> = []
        var pending: [Int] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("{\"action\":\"B\"") { pending = [] }
            if line.hasPrefix("{\"action\":\"I\""), let range = line.range(of: "\"value\":") {
                pending.append(Int(line[range.upperBound...].prefix { $0.isNumber }) ?? -1)
            }
            if line == "{\"action\":\"C\"}" { ids.formUnion(pending) }
        }
        return ids
    }

    /// The second run (to a file): the transactions the first reader did not take.
    private func secondRun(_ setup: Setup) throws -> (ids: Set<Int>, size: Int) {
        let result = try RunningProcess(URL(fileURLWithPath: setup.command[0]), Array(setup.command.dropFirst()))
            .finish(within: 60)
        #expect(result.status == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n")
        #expect(
            lines.filter { $0.hasPrefix("{\"action\":\"B\"") }.count
                == lines.filter { $0.hasPrefix("{\"action\":\"I\"") }.count, "one insert a transaction")
        // B, I, C: the size of one transaction's lines.
        let size = lines.count >= 3 ? lines.prefix(3).map { $0.utf8.count + 1 }.reduce(0, +) : 0
        return (Self.committedIDs(result.stdout), size)
    }

    /// Every transaction ending past `taken` bytes of the first run's output is in the second.
    private func expectRedelivered(
        after taken: Int, _ second: Set<Int>, size: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(size > 0, sourceLocation: sourceLocation)
        guard size > 0 else { return }
        let missing = (0..<Self.count).filter { (($0 + 1) * size) > taken && !second.contains(Self.firstID + $0) }
        #expect(
            missing.isEmpty,
            "taken \(taken) bytes (\(taken / size) transactions); not delivered again: \(missing.count), first \(missing.prefix(5).map { Self.firstID + $0 })",
            sourceLocation: sourceLocation)
    }

    @Test(.timeLimit(.minutes(2))) func headTakesExactlyWhatItReads() throws {
        let setup = try setUp()
        defer { setup.cluster.destroy() }
        let taken = 20_000
        let first = try runPiped(setup, reader: "(sleep 3; head -c \(taken))").finish(within: 60)
        #expect(first.stdout.utf8.count == taken, "\(first.stderr)")
        let (second, size) = try secondRun(setup)
        expectRedelivered(after: taken, second, size: size)
    }

    @Test(.timeLimit(.minutes(2))) func headWithLines() throws {
        let setup = try setUp()
        defer { setup.cluster.destroy() }
        let first = try runPiped(setup, reader: "(sleep 3; head -n 5)").finish(within: 60)
        #expect(first.stdout.split(separator: "\n").count == 5, "\(first)")
        // head reads the pipe in blocks of 8 KiB (twice that as a margin): no more is acknowledged.
        let (second, size) = try secondRun(setup)
        expectRedelivered(after: 16_384, second, size: size)
    }

    @Test(.timeLimit(.minutes(2))) func aReaderKilledMidStream() throws {
        let setup = try setUp()
        defer { setup.cluster.destroy() }
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        // A shell's `read` takes a pipe byte by byte: what it printed is what it took, but for the
        // line it was reading.
        let reader =
            "sh -c 'echo $$ > \(folder)/pid; while IFS= read -r line; do printf \"%s\\n\" \"$line\"; sleep 0.01; done > \(folder)/out'"
        let first = try runPiped(setup, reader: reader)
        #expect(
            eventually(seconds: 60) { readTextFile(folder + "/out").split(separator: "\n").count >= 150 },
            "\(first.stderr)")
        let pid = try #require(Int32(readTextFile(folder + "/pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, SIGKILL)
        let result = try first.finish(within: 30)
        #expect(result.stderr.contains("Broken pipe"), "\(result)")
        let printed = readTextFile(folder + "/out")
        let (second, size) = try secondRun(setup)
        // The line being read when it died is the reader's, at most one transaction more.
        expectRedelivered(after: printed.utf8.count + size, second, size: size)
        let all = Self.committedIDs(printed).union(second)
        #expect(all.count == Self.count)
    }

    @Test(.timeLimit(.minutes(2))) func aSlowReaderGetsEverythingOnce() throws {
        let setup = try setUp()
        defer { setup.cluster.destroy() }
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let reader = "while IFS= read -r line; do printf '%s\\n' \"$line\"; sleep 0.001; done > \(folder)/out"
        let first = try runPiped(setup, reader: reader).finish(within: 90)
        #expect(first.status == 0, "\(first)")
        #expect(Self.committedIDs(readTextFile(folder + "/out")).count == Self.count)
        // Everything was taken, and acknowledged before the end: a second run repeats nothing.
        let confirmed = try LSN(setup.cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots"))
        #expect(confirmed >= setup.end)
        let (second, _) = try secondRun(setup)
        #expect(second.isEmpty)
    }
}
