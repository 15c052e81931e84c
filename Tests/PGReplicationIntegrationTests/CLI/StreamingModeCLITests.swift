import Foundation
import PGLocalCluster
import PGReplication
import Testing

/// `pgrepl stream --streaming off|on|parallel`.
@Suite("pgrepl stream --streaming")
struct StreamingModeCLITests {
    @Test("parallel streaming writes a streamed transaction whole, at its commit", .requires(postgres: 16))
    func parallel() throws {
        let fixture = try StreamFixture()
        try fixture.insert(3000, value: "big")
        try fixture.insert(1, value: "small")
        let end = try LSN(try TestServer.sql("SELECT pg_current_wal_lsn()").scalar ?? "")
        let dsn = try TestServer.dsn("options='-c logical_decoding_work_mem=64kB'")
        for format in ["json", "raw"] {
            let slot = "\(fixture.slot)_\(format)"
            try TestServer.sql("SELECT pg_copy_logical_replication_slot('\(fixture.slot)', '\(slot)')")
            defer { TestServer.dropSlot(slot) }
            let result = try pgrepl(
                "stream", "--dsn", dsn, "--slot", slot, "--publication", fixture.publication, "--streaming",
                "parallel", "--format", format, "--end", end.description)
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n")
            if format == "json" {
                #expect(lines.filter { $0.contains("\"big\"") }.count == 3000)
                #expect(lines.filter { $0.contains("\"small\"") }.count == 1)
            } else {
                // Stream Start (S) and Stream Commit (c) messages: the server did stream it.
                #expect(lines.contains { $0.split(separator: " ").last?.hasPrefix("53") == true })
                #expect(lines.contains { $0.split(separator: " ").last?.hasPrefix("63") == true })
            }
        }
    }

    @Test("a mode the protocol or server lacks is one clear error line")
    func refused() throws {
        let fixture = try StreamFixture()
        let base = [
            "stream", "--dsn", try TestServer.dsn(), "--slot", fixture.slot, "--publication", fixture.publication,
        ]
        expectFailure(
            try RunningProcess.pgrepl(base + ["--streaming", "parallel", "--protocol", "3"]).finish(), status: 1,
            containing: ["--streaming parallel", "--protocol 4"])
        expectFailure(
            try RunningProcess.pgrepl(base + ["--streaming", "on", "--protocol", "1"]).finish(), status: 1,
            containing: ["--streaming on"])
        expectFailure(
            try RunningProcess.pgrepl(base + ["--streaming", "sometimes"]).finish(), status: 1,
            containing: ["sometimes"])
        if ServerFeatures.current.majorVersion == 15 {
            let result = try RunningProcess.pgrepl(base + ["--streaming", "parallel", "--end", "0/1"]).finish()
            #expect(result.status != 0)
            #expect(result.stderr.contains("PostgreSQL 16"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
    }
}
