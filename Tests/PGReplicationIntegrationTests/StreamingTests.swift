import Foundation
import PGLocalCluster
import PGReplication
import PGSupport
import Testing

/// A logical replication connection with a fresh slot and table in a database of its own (so
/// other tests' writes never reach its slot); slot and database are dropped at the end.
final class LogicalFixture {
    let slot = TestServer.uniqueName("slot")
    let table = TestServer.uniqueName("t")
    let database: String
    let dsn: String
    let connection: LogicalReplicationConnection
    let cursor: ReplicationCursor
    var publication: String?

    init(plugin: String = "test_decoding", dsnExtra: String = "", publish: Bool = false) throws {
        (database, dsn) = try TestServer.makeDatabase()
        let sql = try PGConnection(dsn)
        defer { sql.close() }
        try sql.execute("CREATE TABLE \(table) (id serial PRIMARY KEY, v text)")
        if publish {
            let name = TestServer.uniqueName("pub")
            try sql.execute("CREATE PUBLICATION \(name) FOR TABLE \(table)")
            publication = name
        }
        connection = try LogicalReplicationConnection(dsn + " " + dsnExtra)
        cursor = try connection.cursor()
        try cursor.createReplicationSlot(slot, outputPlugin: plugin)
    }

    /// Runs SQL in the fixture's database.
    @discardableResult
    func sql(_ statement: String) throws -> PGConnection.QueryResult {
        let connection = try PGConnection(dsn)
        defer { connection.close() }
        return try connection.execute(statement)
    }

    func insert(_ values: [String]) throws {
        let rows = values.map { "('\($0)')" }.joined(separator: ", ")
        try sql("INSERT INTO \(table) (v) VALUES \(rows)")
    }

    deinit {
        connection.close()
        TestServer.dropSlot(slot)
        TestServer.dropDatabase(database)
    }
}

@Suite struct StreamingTests {
    @Test(.requires(.testDecoding)) func testDecodingDeliversEveryChangeAndStopReplicationPropagates() throws {
        let fixture = try LogicalFixture()
        try fixture.cursor.startReplication(slotName: fixture.slot, decode: true)
        try fixture.insert(["a", "b", "c"])
        var lines: [String] = []
        #expect(throws: StopReplication.self) {
            try fixture.cursor.consumeStream { message in
                guard case .text(let text) = message.payload else { return }
                lines.append(text)
                if text.hasPrefix("COMMIT") { throw StopReplication() }
            }
        }
        #expect(lines.count == 5)
        #expect(lines.first?.hasPrefix("BEGIN") == true)
        #expect(lines.filter { $0.contains("INSERT") }.count == 3)
        #expect(lines[1].contains("v[text]:'a'"))
        // The stream is still open after StopReplication; consumeStream can go on.
        #expect(fixture.cursor.isReplicating)
        try fixture.cursor.stopReplication()
    }

    @Test func pgoutputDeliversEveryMessageOfATransaction() throws {
        let fixture = try LogicalFixture(plugin: "pgoutput", publish: true)
        try fixture.cursor.startReplication(
            slotName: fixture.slot, options: ["proto_version": 1, "publication_names": "\(fixture.publication ?? "")"])
        try fixture.insert(["x", "y"])
        var kinds: [Character] = []
        var commit: ReplicationMessage?
        do {
            try fixture.cursor.consumeStream { message in
                let first = message.withUnsafePayload { $0.first ?? 0 }
                kinds.append(Character(Unicode.Scalar(first)))
                if first == UInt8(ascii: "C") {
                    commit = message
                    throw StopReplication()
                }
            }
        } catch is StopReplication {
            // psycopg2's way to end consume_stream: the handler threw it; any other error fails.
        }
        #expect(String(kinds) == "BRIIC")
        let commitMessage = try #require(commit)
        #expect(commitMessage.dataStart == commitMessage.walEnd)
        #expect(commitMessage.dataSize == 26)
        #expect(commitMessage.sendTime.timeIntervalSinceNow < 5)
        try fixture.cursor.stopReplication()
    }

    @Test func decodeIsRefusedForPgoutput() throws {
        let fixture = try LogicalFixture(plugin: "pgoutput", publish: true)
        let error = try #require(throws: PGError.self) {
            try fixture.cursor.startReplication(
                slotName: fixture.slot, options: ["proto_version": "1", "publication_names": "p"], decode: true)
        }
        #expect(error.kind == .programming)
    }

    @Test(.requires(.testDecoding)) func keepaliveIntervalDrivesTimedStatusUpdates() throws {
        for (interval, expectRecent) in [(1.0, true), (nil, false)] as [(Double?, Bool)] {
            let fixture = try LogicalFixture()
            try fixture.cursor.startReplication(slotName: fixture.slot, decode: true)
            let handle = fixture.cursor.makeStopHandle()
            let pid = fixture.connection.backendPID
            let age = Locked<Double?>(nil)
            DispatchQueue.global().asyncAfter(deadline: .now() + 2.6) {
                // Nil when it cannot be read: the expectation on `age` then fails.
                let seconds = try? TestServer.sql(
                    "SELECT extract(epoch FROM now() - reply_time) FROM pg_stat_replication WHERE pid = \(pid)"
                ).scalar.flatMap(Double.init)
                age.withLock { $0 = seconds }
                handle.stop()
            }
            try fixture.cursor.consumeStream(keepaliveInterval: interval) { _ in }
            #expect(fixture.cursor.streamEnd?.reason == .stopped)
            #expect(!fixture.cursor.isReplicating)
            let seconds = try #require(age.withLock { $0 })
            // With a 1 s interval updates go out every second; with the default (10 s) only the
            // first, immediate one went out, about 2.6 s before.
            if expectRecent { #expect(seconds < 1.3) } else { #expect(seconds > 2) }
            // A second logical START on a connection that stopped one is refused.
            #expect(throws: PGError.self) { try fixture.cursor.startReplication(slotName: fixture.slot, decode: true) }
        }
    }

    @Test(.requires(.testDecoding)) func readMessageLoopAndFeedbackMoveTheSlot() throws {
        let fixture = try LogicalFixture()
        fixture.cursor.automaticFlush = false
        try fixture.cursor.startReplication(slotName: fixture.slot, decode: true, statusInterval: 1)
        let before = try TestServer.confirmedFlush(fixture.slot)
        try fixture.insert(["one", "two"])
        let messages = try pollMessages(fixture.cursor, seconds: 10) { $0.payloadText.hasPrefix("COMMIT") }
        #expect(messages.count == 4)
        let commit = try #require(messages.last)
        #expect(commit.payloadText.hasPrefix("COMMIT"))

        // Recorded, not sent: the slot stays until the next timed update.
        try fixture.cursor.sendFeedback(flushLSN: commit.dataStart)
        #expect(try TestServer.confirmedFlush(fixture.slot) == before)
        _ = try pollMessages(fixture.cursor, seconds: 1.5)
        #expect(try TestServer.confirmedFlush(fixture.slot) == commit.dataStart)

        // reply: true sends at once and moves feedbackTimestamp.
        let sentBefore = fixture.cursor.feedbackTimestamp
        Thread.sleep(forTimeInterval: 0.05)
        try fixture.cursor.sendFeedback(reply: true)
        #expect(fixture.cursor.feedbackTimestamp > sentBefore)
        _ = try pollMessages(fixture.cursor, seconds: 0.5)
        #expect(fixture.cursor.lastKeepalive != nil)
        #expect(fixture.cursor.walEnd >= commit.dataStart)
    }

    @Test func flushForwardingFollowsKeepalivesOnlyWhenEverythingWasConfirmed() throws {
        let fixture = try LogicalFixture(plugin: "pgoutput", publish: true)
        let other = try TestServer.makeTable("other")
        defer { TestServer.dropQuietly("DROP TABLE IF EXISTS \(other)") }
        let options: ReplicationOptions = ["proto_version": 1, "publication_names": "\(fixture.publication ?? "")"]
        try fixture.cursor.startReplication(slotName: fixture.slot, options: options, statusInterval: 1)
        _ = try pollMessages(fixture.cursor, seconds: 0.3)

        // 1. Idle slot, WAL written elsewhere: the slot follows the server.
        let idleStart = try TestServer.confirmedFlush(fixture.slot)
        try TestServer.sql("INSERT INTO \(other) (v) SELECT 'x' FROM generate_series(1, 100)")
        let writtenTo = try LSN(TestServer.sql("SELECT pg_current_wal_lsn()").scalar ?? "0/0")
        var received = try pollMessages(fixture.cursor, seconds: 4) { _ in false }
        #expect(received.isEmpty)
        try fixture.cursor.sendFeedback(reply: true)
        received = try pollMessages(fixture.cursor, seconds: 1.5)
        let advanced = try TestServer.confirmedFlush(fixture.slot)
        #expect(advanced > idleStart)
        #expect(advanced >= writtenTo)

        // 2. Data received but not confirmed holds the slot, even as WAL grows elsewhere.
        try fixture.insert(["held"])
        let data = try pollMessages(fixture.cursor, seconds: 10) {
            $0.withUnsafePayload { $0.first } == UInt8(ascii: "C")
        }
        let commit = try #require(data.last)
        try TestServer.sql("INSERT INTO \(other) (v) SELECT 'y' FROM generate_series(1, 100)")
        _ = try pollMessages(fixture.cursor, seconds: 2.5)
        #expect(try TestServer.confirmedFlush(fixture.slot) < commit.dataStart)

        // Confirming it lets the slot move on past it.
        try fixture.cursor.sendFeedback(flushLSN: commit.dataStart)
        try TestServer.sql("INSERT INTO \(other) (v) VALUES ('z')")
        _ = try pollMessages(fixture.cursor, seconds: 2.5)
        #expect(try TestServer.confirmedFlush(fixture.slot) >= commit.dataStart)

        // 3. With automatic flush off, keepalives no longer move it.
        try fixture.cursor.stopReplication()
        let connection = try LogicalReplicationConnection(fixture.dsn)
        defer { connection.close() }
        let cursor = try connection.cursor()
        cursor.automaticFlush = false
        try cursor.startReplication(slotName: fixture.slot, options: options, statusInterval: 1)
        let held = try TestServer.confirmedFlush(fixture.slot)
        try TestServer.sql("INSERT INTO \(other) (v) SELECT 'w' FROM generate_series(1, 100)")
        _ = try pollMessages(cursor, seconds: 2.5)
        try cursor.sendFeedback(reply: true)
        _ = try pollMessages(cursor, seconds: 1.5)
        #expect(cursor.isReplicating)
        #expect(try TestServer.confirmedFlush(fixture.slot) == held)
    }

    @Test(.requires(.testDecoding)) func aConsumerSlowerThanWalSenderTimeoutKeepsItsConnection() throws {
        let fixture = try LogicalFixture(dsnExtra: "options='-c wal_sender_timeout=2s'")
        try fixture.cursor.startReplication(slotName: fixture.slot, decode: true)
        #expect(fixture.cursor.serverSenderTimeout == 2)
        try fixture.insert(["first"])
        var commits = 0
        var slept = false
        do {
            try fixture.cursor.consumeStream { message in
                if !slept {
                    slept = true
                    Thread.sleep(forTimeInterval: 5)
                    try fixture.insert(["second"])
                }
                if message.payloadText.hasPrefix("COMMIT") {
                    commits += 1
                    try message.cursor.sendFeedback(flushLSN: message.dataStart)
                    if commits == 2 { throw StopReplication() }
                }
            }
        } catch is StopReplication {
            // psycopg2's way to end consume_stream: the handler threw it; any other error fails.
        }
        #expect(commits == 2)
        #expect(fixture.cursor.isReplicating)
        try fixture.cursor.stopReplication()
    }

    @Test(.requires(.testDecoding)) func terminatedWalsenderIsAnOperationalAdminShutdown() throws {
        let fixture = try LogicalFixture()
        try fixture.cursor.startReplication(slotName: fixture.slot, decode: true)
        let pid = try #require(try TestServer.activePID(fixture.slot))
        try TestServer.sql("SELECT pg_terminate_backend(\(pid))")
        let error = try #require(throws: PGError.self) {
            try fixture.cursor.consumeStream { _ in }
        }
        #expect(error.kind == .operational)
        #expect(error.sqlState == .adminShutdown)
        #expect(error.message.contains("terminating connection due to administrator command"))
    }

    @Test(.requires(.testDecoding)) func stopReplicationThenDropSlotOnTheSameConnection() throws {
        let fixture = try LogicalFixture()
        try fixture.cursor.startReplication(slotName: fixture.slot, decode: true)
        try fixture.insert(["a"])
        _ = try pollMessages(fixture.cursor, seconds: 5) { $0.payloadText.hasPrefix("COMMIT") }
        let end = try fixture.cursor.stopReplication()
        #expect(end.reason == .stopped)
        #expect(!fixture.cursor.isReplicating)
        try fixture.cursor.dropReplicationSlot(fixture.slot)
        #expect(try !TestServer.slotExists(fixture.slot))
        // The connection is usable for other commands again.
        #expect(try fixture.cursor.identifySystem().timeline == 1)
    }

    @Test(.requires(.testDecoding)) func stopReplicationFromInsideTheConsumerEndsTheLoop() throws {
        let fixture = try LogicalFixture()
        try fixture.cursor.startReplication(slotName: fixture.slot, decode: true)
        try fixture.insert(["a", "b"])
        var seen = 0
        try fixture.cursor.consumeStream { message in
            seen += 1
            try message.cursor.stopReplication()
        }
        #expect(seen == 1)
        #expect(fixture.cursor.streamEnd?.reason == .stopped)
    }

    @Test func physicalStreamingFromIdentifySystem() throws {
        let connection = try PhysicalReplicationConnection(TestServer.dsn())
        defer { connection.close() }
        let cursor = try connection.cursor()
        let system = try cursor.identifySystem()
        try cursor.startReplication(startLSN: system.xlogPosition, timeline: system.timeline)
        let table = try TestServer.makeTable("phys")
        defer { TestServer.dropQuietly("DROP TABLE IF EXISTS \(table)") }
        try TestServer.sql("INSERT INTO \(table) (v) SELECT 'p' FROM generate_series(1, 20)")
        let messages = try pollMessages(cursor, seconds: 3)
        #expect(!messages.isEmpty)
        // WAL arrives contiguously; a message ends at the server's WAL end unless the server had
        // more than one message's worth (128 kB) to send, which other tests' writes can cause.
        var expectedStart = system.xlogPosition
        for message in messages {
            let end = message.dataStart.advanced(by: UInt64(message.dataSize))
            #expect(message.dataStart == expectedStart)
            #expect(end <= message.walEnd)
            expectedStart = end
        }
        #expect(messages.contains { $0.dataStart.advanced(by: UInt64($0.dataSize)) == $0.walEnd })
        let end = try cursor.stopReplication()
        #expect(end.reason == .stopped)
        #expect(try cursor.identifySystem().timeline == system.timeline)
    }
}
