import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Updates that leave a 1 MB text column unchanged under REPLICA IDENTITY DEFAULT: the server
/// sends no value for it. With `unchangedToast = .reselect` (`pgrepl stream --fill-toast`) the
/// value is read back by key and the row arrives whole, in assembled and chunked delivery, text
/// and binary, and in every format of pgrepl; a row deleted before the read keeps the placeholder.
@Suite(.serialized) struct UnchangedToastTests {
    static let schema = """
        CREATE TABLE docs (k int PRIMARY KEY, n int NOT NULL, body text NOT NULL);
        INSERT INTO docs SELECT g, 0, g || ':' || (SELECT string_agg(md5(i::text || g), '') FROM generate_series(1, 32768) i)
          FROM generate_series(1, 3) g;
        CREATE TABLE marker (id int PRIMARY KEY);
        CREATE PUBLICATION pub FOR TABLE docs, marker;
        """
    /// 1 MB and a few bytes: `k:` then 32768 md5s.
    static let bodyLength = 2 + 32 * 32768

    static func updates(_ events: [PGChangeEvent]) -> [PGRow] {
        var rows: [PGRow] = []
        for event in events {
            switch event {
            case .transaction(let transaction):
                for case .update(let table, _, _, let new) in transaction.changes where table.name == "docs" {
                    rows.append(new)
                }
            case .changes(let batch):
                for case .update(let table, _, _, let new) in batch.changes where table.name == "docs" {
                    rows.append(new)
                }
            default: break
            }
        }
        return rows
    }

    @Test(arguments: [PGChangeDelivery.assembled, .chunked(batchSize: 2)], [false, true])
    func updatesArriveWholeAndADeletedRowKeepsThePlaceholder(delivery: PGChangeDelivery, binary: Bool) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(Self.schema)
        let expected = try cluster.psql("SELECT body FROM docs WHERE k = 1")
        #expect(expected.utf8.count == Self.bodyLength)
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "toast", publications: ["pub"])
        configuration.createSlot = true
        configuration.delivery = delivery
        configuration.binary = binary
        configuration.unchangedToast = .reselect
        // The handler holds the marker's transaction until row 2 was updated and then deleted:
        // by the time the update is delivered and read back, the row is gone.
        let hold = DispatchSemaphore(value: 0)
        let running = RunningStream(configuration) { event in
            if case .transaction(let transaction) = event, transaction.changes.first?.table?.name == "marker" {
                hold.wait()
            }
            if case .changes(let batch) = event, batch.changes.first?.table?.name == "marker" { hold.wait() }
        }
        defer { running.stop() }
        #expect(running.waitConnected(seconds: 60))
        try cluster.psql("INSERT INTO marker VALUES (1)")
        try cluster.psql("UPDATE docs SET n = n + 1 WHERE k = 2")
        try cluster.psql("DELETE FROM docs WHERE k = 2")
        hold.signal()
        try cluster.psql("UPDATE docs SET n = n + 1 WHERE k = 1")
        try cluster.psql("UPDATE docs SET n = n + 1 WHERE k = 1; UPDATE docs SET n = n + 1 WHERE k = 3")
        #expect(running.wait(seconds: 60) { Self.updates($0).count == 4 }, "\(String(describing: running.error))")
        running.stop()
        #expect(running.error == nil, "\(String(describing: running.error))")
        let rows = Self.updates(running.received)
        try #require(rows.count == 4)
        // Deleted before it was read back: the placeholder, and no column named filled.
        #expect(rows[0]["body"] == .unchangedToast && rows[0].reselectedColumns.isEmpty)
        for row in rows.dropFirst() {
            let k = try row["k", as: Int.self]
            let body = try row["body", as: String.self]
            #expect(body.utf8.count == Self.bodyLength && body.hasPrefix("\(k):"), "row \(k): \(body.prefix(20))…")
            #expect(row.reselectedColumns == ["body"])
        }
        #expect(try rows[1]["body", as: String.self] == expected)
    }

    @Test(arguments: ["json", "debezium", "text"])
    func everyFormatWritesTheWholeRow(format: String) throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(Self.schema)
        let expected = try cluster.psql("SELECT body FROM docs WHERE k = 1")
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let file = folder + "/out"
        let process = try RunningProcess.pgrepl([
            "stream", "--dsn", cluster.dsn(), "--slot", "toast_cli", "--publication", "pub", "--create-slot",
            "--format", format, "--fill-toast", "--output", file,
        ])
        defer { process.signal(SIGKILL) }
        // The slot exists once the stream runs: wait for a first line.
        #expect(
            eventually(seconds: 60) {
                _ = try? cluster.psql("INSERT INTO marker SELECT coalesce(max(id), 0) + 1 FROM marker")
                return !readTextFile(file).isEmpty
            })
        try cluster.psql("UPDATE docs SET n = 7 WHERE k = 1")
        #expect(
            eventually(seconds: 60) { readTextFile(file).contains(expected) }, "\(format): the value was not written")
        process.signal(SIGTERM)
        _ = try process.finish(within: 30)
        let line = try #require(readTextFile(file).split(separator: "\n").first { $0.contains(expected) })
        switch format {
        case "json":
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["action"] as? String == "U")
        case "debezium":
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let after =
                (object["after"] as? [String: Any])
                ?? ((object["payload"] as? [String: Any])?["after"] as? [String: Any])
            #expect(after?["body"] as? String == expected)
            #expect(after?["n"] as? Int == 7)
        default:
            #expect(line.contains("7"))
        }
    }

    @Test func withoutTheOptionThePlaceholderStays() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(Self.schema)
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "toast_as_is", publications: ["pub"])
        configuration.createSlot = true
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected(seconds: 60))
        try cluster.psql("UPDATE docs SET n = n + 1 WHERE k = 1")
        #expect(running.wait(seconds: 60) { Self.updates($0).count == 1 })
        running.stop()
        let row = try #require(Self.updates(running.received).first)
        #expect(row["body"] == .unchangedToast && row.reselectedColumns.isEmpty)
    }
}
