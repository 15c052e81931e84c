import Foundation
import PGLocalCluster
import PGReplication
import Testing

@testable import PGReplCLI

/// The CLI's pieces that need no server.
@Suite("pgrepl pieces")
struct CLIUnitTests {
    @Test("segment file names as PostgreSQL writes them")
    func segmentNames() throws {
        let segments = try #require(WALSegments(setting: "16MB"))
        #expect(segments.size == 16 << 20)
        #expect(segments.fileName(timeline: 1, segment: 3) == "000000010000000000000003")
        #expect(segments.fileName(timeline: 0x1A, segment: 0x1FF) == "0000001A00000001000000FF")
        #expect(segments.segment(of: try LSN("1/FF000028")) == 0x1FF)
        #expect(segments.segmentStart(try LSN("0/3ABCDEF")) == (try LSN("0/3000000")))
        #expect(segments.parse(fileName: "0000001A00000001000000FF")! == (0x1A, 0x1FF, false))
        #expect(segments.parse(fileName: "000000010000000000000003.partial")! == (1, 3, true))
        for bad in [
            "00000001000000000000003", "0000000100000000000000a3", "000000010000000000000003.gz", "00000002.history",
            "000000000000000000000003", "000000010000000000000100",
        ] {
            #expect(segments.parse(fileName: bad) == nil, "\(bad)")
        }
        let big = try #require(WALSegments(setting: "1GB"))
        #expect(big.fileName(timeline: 2, segment: 9) == "000000020000000200000001")
        #expect(WALSegments(setting: "1GB")?.perLog == 4)
        for bad in ["", "16", "16XB", "3MB", "2GB", "512kB", "99999999999999999999MB"] {
            #expect(WALSegments(setting: bad) == nil, "\(bad)")
        }
    }

    @Test("resume point: the newest partial, else the segment after the newest complete one")
    func resumePoint() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let segments = try #require(WALSegments(size: 1 << 20))
        let directory = WALDirectory(path: folder.path, segments: segments, sync: false)
        func file(_ name: String, size: Int = 1 << 20) {
            _ = FileManager.default.createFile(atPath: folder.path + "/" + name, contents: Data(count: size))
        }
        var warnings: [String] = []
        #expect(try directory.resumePoint { warnings.append($0) } == nil)

        file("000000010000000000000004")
        file("000000010000000000000005")
        file("00000002.history", size: 10)
        var point = try #require(try directory.resumePoint { warnings.append($0) })
        #expect(point.start == LSN(6 << 20) && point.timeline == 1)

        file("000000010000000000000006.partial")
        point = try #require(try directory.resumePoint { warnings.append($0) })
        #expect(point.start == LSN(6 << 20) && point.timeline == 1)

        // A newer timeline wins at the same segment; a file of the wrong size is skipped.
        file("000000020000000000000006.partial")
        file("000000020000000000000007", size: 100)
        point = try #require(try directory.resumePoint { warnings.append($0) })
        #expect(point.start == LSN(6 << 20) && point.timeline == 2)
        #expect(warnings.count == 1 && warnings[0].contains("000000020000000000000007"))
    }

    @Test("segments are written at their offsets, completed and renamed, the open one kept as .partial")
    func writer() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let segments = try #require(WALSegments(size: 1 << 20))
        let directory = WALDirectory(path: folder.path, segments: segments, sync: true)
        let start = LSN(3 << 20)
        let writer = WALWriter(directory: directory, timeline: 1, start: start)
        let payload = [UInt8]((0..<(1 << 20) + 100).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try payload.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[..<1000]), at: start) }
        #expect(throws: CLIError.self) {
            try payload.withUnsafeBytes { try writer.write($0, at: start) }
        }
        try payload.withUnsafeBytes {
            try writer.write(UnsafeRawBufferPointer(rebasing: $0[1000...]), at: start.advanced(by: 1000))
        }
        #expect(writer.written == start.advanced(by: UInt64(payload.count)))
        #expect(writer.flushed == LSN(4 << 20))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == [
                "000000010000000000000003", "000000010000000000000004.partial",
            ])
        let complete = try Data(contentsOf: URL(fileURLWithPath: folder.path + "/000000010000000000000003"))
        #expect(complete == Data(payload.prefix(1 << 20)))
        #expect(try writer.closeKeepingPartial() == "000000010000000000000004.partial")
        let partial = try Data(contentsOf: URL(fileURLWithPath: folder.path + "/000000010000000000000004.partial"))
        #expect(partial.count == 1 << 20)
        #expect(partial.prefix(100) == Data(payload.suffix(100)))
        #expect(partial.dropFirst(100).allSatisfy { $0 == 0 })
    }

    @Test("error lines: one line, SQLSTATE, hint, passwords masked, statuses by kind")
    func errorLines() {
        let server = CLIError.wrapping(
            PGError(
                .programming, "replication slot \"x\" does not exist", sqlState: .undefinedObject,
                hint: "create it first"),
            context: "dropping slot \"x\"")
        #expect(server.status == .server)
        #expect(
            server.line
                == "pgrepl: dropping slot \"x\": replication slot \"x\" does not exist (SQLSTATE 42704); hint: create it first"
        )
        let lost = CLIError.wrapping(
            PGError(
                .operational, "connection to server failed:\n\tConnection refused\n", sqlState: .connectionFailure,
                connectionLost: true),
            context: "connecting")
        #expect(lost.status == .connection)
        #expect(lost.line == "pgrepl: connecting: connection to server failed: Connection refused (SQLSTATE 08006)")
        #expect(
            CLIError.wrapping(PGError(.operational, "auth", sqlState: .invalidPassword), context: "x").status
                == .connection)
        #expect(
            CLIError.wrapping(PGError(.programming, "invalid DSN: missing \"=\""), context: "connecting").status
                == .usage)
        #expect(CLIError.wrapping(PGError(.notSupported, "needs PostgreSQL 15"), context: "x").status == .server)
        #expect(maskPasswords("host=a password=s3cret user=b") == "host=a password=xxx user=b")
        #expect(maskPasswords("host=a PASSWORD = 'it\\'s x' user=b") == "host=a PASSWORD = xxx user=b")
        #expect(maskPasswords("postgresql://u:s3cret@h:5432/db") == "postgresql://u:xxx@h:5432/db")
        #expect(CLIError(.usage, "", "bad password=hunter2").line == "pgrepl: bad password=xxx")
    }
}
