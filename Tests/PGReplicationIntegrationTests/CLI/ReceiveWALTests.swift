import Foundation
import PGLocalCluster
import PGReplication
import Testing

@testable import PGReplCLI

@Suite("pgrepl receivewal", .serialized)
struct ReceiveWALTests {
    @Test("bad arguments and unusable folders fail with one line before writing anything")
    func argumentErrors() throws {
        let dsn = try TestServer.dsn()
        let folder = try TemporaryFolder()
        defer { folder.remove() }

        expectFailure(
            try pgrepl("receivewal", "--dsn", dsn, "--dir", folder.path, "--endpos", "0/XYZ"), status: 1,
            containing: ["0/XYZ", "--endpos"])
        expectFailure(
            try pgrepl("receivewal", "--dsn", dsn, "--dir", folder.path, "--create-slot"), status: 1,
            containing: ["--slot"])

        let file = folder.path + "/a-file"
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        expectFailure(
            try pgrepl("receivewal", "--dsn", dsn, "--dir", file + "/wal"), status: 4,
            containing: ["--dir \(file)/wal", "Not a directory"])
        expectFailure(
            try pgrepl("receivewal", "--dsn", dsn, "--dir", folder.path + "/missing"), status: 4,
            containing: ["No such file or directory"])

        let slot = TestServer.uniqueName("cli_nosuch")
        expectFailure(
            try pgrepl("receivewal", "--dsn", dsn, "--dir", folder.path, "--slot", slot), status: 3,
            containing: ["\"\(slot)\" does not exist", "SQLSTATE 42704"])
        #expect(try folder.segmentFiles().isEmpty)
    }

    /// pgrepl and pg_receivewal archive the same range from two slots created together; pgrepl
    /// is stopped with SIGINT and restarted in between.
    @Test(
        "segments match pg_receivewal byte for byte, pg_waldump reads them, a restart resumes", .timeLimit(.minutes(4)))
    func matchesPGReceiveWAL() throws {
        let dsn = try TestServer.dsn()
        let bin = try PostgresBinaries.directory()
        let ours = try TemporaryFolder()
        let theirs = try TemporaryFolder()
        let ourSlot = TestServer.uniqueName("cli_ours")
        let theirSlot = TestServer.uniqueName("cli_theirs")
        defer {
            TestServer.dropSlot(ourSlot)
            TestServer.dropSlot(theirSlot)
            ours.remove()
            theirs.remove()
        }
        try TestServer.sql(
            "SELECT pg_create_physical_replication_slot('\(ourSlot)', true), pg_create_physical_replication_slot('\(theirSlot)', true)"
        )

        let reference = try RunningProcess(
            URL(fileURLWithPath: bin + "/pg_receivewal"),
            ["-d", dsn, "-D", theirs.path, "-S", theirSlot, "--no-loop", "-s", "1"])
        defer { reference.signal(SIGKILL) }

        // First run: three segments complete, then SIGINT.
        var receiver = try RunningProcess.pgrepl(
            ["receivewal", "--dsn", dsn, "--dir", ours.path, "--slot", ourSlot, "--status-interval", "1", "-v"])
        defer { receiver.signal(SIGKILL) }
        let first = try produceSegments(3, folders: [ours], while: receiver)
        // Some WAL into the next segment, so that there is a .partial to stop in.
        try TestServer.sql("CHECKPOINT")
        try waitFor("a .partial file") { try ours.segmentFiles().contains { $0.hasSuffix(".partial") } }
        receiver.signal(SIGINT)
        let stopped = try receiver.finish()
        #expect(stopped.status == 130, "\(stopped)")
        #expect(stopped.stderr.contains("stopped by SIGINT"), "\(stopped)")
        let partial = try #require(
            try ours.segmentFiles().first { $0.hasSuffix(".partial") }, "no .partial kept: \(stopped)")
        #expect(try ours.segmentFiles().filter { $0.hasSuffix(".partial") }.count == 1)
        #expect(first.count >= 3)

        // Second run: resumes at the partial segment, which completes, and goes on.
        receiver = try RunningProcess.pgrepl(
            ["receivewal", "--dsn", dsn, "--dir", ours.path, "--slot", ourSlot, "--status-interval", "1", "-v"])
        let all = try produceSegments(first.count + 2, folders: [ours, theirs], while: receiver)
        receiver.signal(SIGTERM)
        let resumed = try receiver.finish()
        #expect(resumed.status == 130, "\(resumed)")
        #expect(resumed.stderr.contains("resuming from the files"), "\(resumed)")
        let completedPartial = String(partial.dropLast(".partial".count))
        #expect(all.contains(completedPartial), "\(partial) did not complete: \(all)")
        #expect(!FileManager.default.fileExists(atPath: ours.path + "/" + partial))

        // No gap: the complete segments are consecutive.
        let numbers = all.map { UInt64($0.suffix(16), radix: 16) ?? 0 }
        if let low = numbers.first, let high = numbers.last { #expect(numbers == Array(low...high), "\(all)") }

        reference.signal(SIGINT)
        let referenceResult = try reference.finish()
        #expect(referenceResult.status == 0, "\(referenceResult)")

        // pg_waldump reads every complete segment of ours.
        for segment in all {
            let dump = try RunningProcess(URL(fileURLWithPath: bin + "/pg_waldump"), [ours.path + "/" + segment])
                .finish()
            #expect(dump.status == 0, "pg_waldump \(segment): \(dump)")
        }

        // Byte for byte equal to pg_receivewal's complete segments.
        let common = Set(all).intersection(try theirs.completeSegments()).sorted()
        // (Only the failure message reads the listing again.)
        #expect(common.count >= first.count + 2, "ours: \(all), theirs: \((try? theirs.segmentFiles()) ?? [])")
        for segment in common {
            let a = try Data(contentsOf: URL(fileURLWithPath: ours.path + "/" + segment))
            let b = try Data(contentsOf: URL(fileURLWithPath: theirs.path + "/" + segment))
            #expect(a == b, "\(segment) differs")
        }
        #expect(common.contains(completedPartial))
    }

    @Test("--endpos stops with status 0 and reports the flush position to the slot")
    func endpos() throws {
        let dsn = try TestServer.dsn()
        let folder = try TemporaryFolder()
        let slot = TestServer.uniqueName("cli_endpos")
        defer {
            TestServer.dropSlot(slot)
            folder.remove()
        }
        try TestServer.sql("CHECKPOINT")
        let target = try LSN(try TestServer.sql("SELECT pg_current_wal_flush_lsn()").scalar ?? "")
        let result = try pgrepl(
            "receivewal", "--dsn", dsn, "--dir", folder.path, "--slot", slot, "--create-slot", "--endpos",
            target.description,
            "--no-sync")
        #expect(result.status == 0, "\(result)")
        let files = try folder.segmentFiles()
        let segments = try #require(WALSegments(size: 16 << 20))
        let expected = segments.fileName(timeline: 1, segment: segments.segment(of: target)) + ".partial"
        #expect(files.last == expected || files.last == String(expected.prefix(24)), "\(files)")
        let restart = try LSN(
            try TestServer.sql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = '\(slot)'").scalar ?? "")
        #expect(restart >= target)
    }
}

/// Writes WAL and switches segments until `count` segments are complete in every folder; returns
/// the complete segment names of the first folder. The WAL is checkpoint records, which no logical
/// slot decodes: other tests stream from logical slots on the same server at the same time.
private func produceSegments(
    _ count: Int, folders: [TemporaryFolder], while receiver: RunningProcess
) throws
    -> [String]
{
    let deadline = Date().addingTimeInterval(90)
    while Date() < deadline {
        guard receiver.isRunning else { throw CLITestError("pgrepl receivewal ended: \(receiver.stderr)") }
        if try folders.allSatisfy({ try $0.completeSegments().count >= count }) {
            return try folders[0].completeSegments()
        }
        try TestServer.sql("CHECKPOINT")
        try TestServer.sql("SELECT pg_switch_wal()")
        Thread.sleep(forTimeInterval: 0.3)
    }
    throw CLITestError("fewer than \(count) complete segments after 90 s: \(try folders.map { try $0.segmentFiles() })")
}

/// Waits up to 30 s for a condition.
func waitFor(_ what: String, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
        if try condition() { return }
        Thread.sleep(forTimeInterval: 0.1)
    }
    throw CLITestError("timed out waiting for \(what)")
}

extension TemporaryFolder {
    /// Segment files, complete and partial, sorted.
    func segmentFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.count >= 24 && !$0.hasSuffix(".history") }
            .sorted()
    }

    /// Complete segment files, sorted.
    func completeSegments() throws -> [String] { try segmentFiles().filter { $0.count == 24 } }
}

/// The PostgreSQL client binaries (pg_receivewal, pg_waldump).
enum PostgresBinaries {
    static func directory() throws -> String {
        var candidates: [String] = []
        if let dir = ProcessInfo.processInfo.environment["PG_BINDIR"] { candidates.append(dir) }
        // No Debian layout is no candidate: the search then fails with its own error below.
        let installed = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        candidates += installed.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin" }
        guard
            let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0 + "/pg_receivewal") })
        else {
            throw CLITestError("pg_receivewal not found (set PG_BINDIR or apt-get install postgresql)")
        }
        return found
    }
}
