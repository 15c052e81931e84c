import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import Testing

/// Names and values with quotes, backslashes, semicolons, NUL and non-ASCII reach the server as
/// one identifier or literal each: no replication command can be smuggled in (a victim slot
/// survives every attempt), and the connection stays usable.
@Suite struct InjectionTests {
    static let hostile = [
        "x\" LOGICAL \"test_decoding\"; DROP_REPLICATION_SLOT \"VICTIM",
        "x'); DROP_REPLICATION_SLOT VICTIM; --",
        "back\\slash\\\"; DROP_REPLICATION_SLOT \"VICTIM\"",
        "semi;colon\n; DROP_REPLICATION_SLOT VICTIM",
        "ünïcødé_ж\"; DROP_REPLICATION_SLOT VICTIM",
        "nul\u{0}\"; DROP_REPLICATION_SLOT VICTIM",
    ]

    private func expectRefused(_ name: String, _ what: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("\(what) accepted \(name.debugDescription)")
        } catch let error as PGError {
            if name.contains("\u{0}") {
                #expect(error.kind == .programming)
                #expect(error.message.contains("must not contain NUL bytes"))
            }
        } catch {
            Issue.record("\(what): unexpected \(error)")
        }
    }

    @Test(.requires(.testDecoding), arguments: hostile)
    func replicationCommandsCannotBeInjected(_ template: String) throws {
        let victim = TestServer.uniqueName("victim")
        defer { TestServer.dropSlot(victim) }
        try TestServer.sql("SELECT pg_create_logical_replication_slot('\(victim)', 'test_decoding')")
        let name = template.replacingOccurrences(of: "VICTIM", with: victim)
        let logical = try LogicalReplicationConnection(TestServer.dsn())
        defer { logical.close() }
        let physical = try PhysicalReplicationConnection(TestServer.dsn())
        defer { physical.close() }
        let cursor = try logical.cursor()
        let physicalCursor = try physical.cursor()

        expectRefused(name, "createReplicationSlot (name)") {
            try cursor.createReplicationSlot(name, outputPlugin: "test_decoding")
        }
        expectRefused(name, "createReplicationSlot (plugin)") {
            try cursor.createReplicationSlot(TestServer.uniqueName("never"), outputPlugin: name)
        }
        expectRefused(name, "dropReplicationSlot") { try cursor.dropReplicationSlot(name) }
        expectRefused(name, "show") { _ = try cursor.show(name) }
        expectRefused(name, "startReplication") { try cursor.startReplication(slotName: name) }
        // READ_REPLICATION_SLOT answers "no such slot" for a name that is not a slot; the
        // replication lexer of PostgreSQL 15 refuses a doubled quote inside an identifier with a
        // syntax error, later ones read it as part of the name (no such slot either).
        if name.contains("\u{0}") {
            expectRefused(name, "readReplicationSlot") { _ = try physicalCursor.readReplicationSlot(name) }
        } else if name.contains("\""), ServerFeatures.current.majorVersion < 16 {
            expectRefused(name, "readReplicationSlot") { _ = try physicalCursor.readReplicationSlot(name) }
        } else {
            #expect(try physicalCursor.readReplicationSlot(name) == nil)
        }
        #expect(try TestServer.slotExists(victim))
        #expect(try cursor.identifySystem().timeline >= 1)
        #expect(try physicalCursor.identifySystem().timeline >= 1)
    }

    @Test(arguments: hostile)
    func changeStreamNamesCannotBeInjected(_ template: String) throws {
        let fixture = try StreamFixture()
        let victim = TestServer.uniqueName("victim")
        defer { TestServer.dropSlot(victim) }
        try TestServer.sql("SELECT pg_create_logical_replication_slot('\(victim)', 'pgoutput')")
        let name = template.replacingOccurrences(of: "VICTIM", with: victim)

        // A hostile slot name: refused (NUL) or no such slot.
        var configuration = fixture.configuration()
        configuration.slot = name
        configuration.reconnect = .never
        do {
            try ChangeStream(configuration).consume { _ in }
            Issue.record("a stream on slot \(name.debugDescription) ran")
        } catch let error as ChangeStreamError {
            #expect(error.kind == .slotMissing)
        } catch let error as PGError {
            #expect(error.kind == .programming)
        }

        // A hostile publication name is looked up whole, quoted: the refusal names it.
        configuration = fixture.configuration()
        configuration.publications = [name]
        configuration.reconnect = .never
        let stream = ChangeStream(configuration)
        if name.contains("\u{0}") {
            let error = try #require(throws: PGError.self) { try stream.consume { _ in } }
            #expect(error.message.contains("must not contain NUL bytes"))
        } else {
            // Refused before streaming, on every version (PostgreSQL 18's pgoutput would skip a
            // publication it cannot find, with only a warning in the server's log).
            let error = try #require(throws: ChangeStreamError.self) { try stream.consume { _ in } }
            #expect(error.kind == .cannotStart)
            #expect(error.underlying?.sqlState == .undefinedObject)
            #expect(error.message.contains("publication \"\(name)\" does not exist"), "\(error.message)")
        }
        #expect(try TestServer.slotExists(victim))
    }

    @Test func aPublicationNameFullOfQuotesStreamsEndToEnd() throws {
        let table = try TestServer.makeTable("quoted")
        let publication = "we'ird\"\",)name;\\ж \(UInt16.random(in: 0...UInt16.max))"
        let slot = TestServer.uniqueName("quoted")
        let quoted = "\"" + publication.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        try TestServer.sql("CREATE PUBLICATION \(quoted) FOR TABLE \(table)")
        defer {
            TestServer.dropSlot(slot)
            TestServer.dropQuietly("DROP PUBLICATION IF EXISTS \(quoted); DROP TABLE IF EXISTS \(table)")
        }
        var configuration = ChangeStream.Configuration(
            dsn: try TestServer.dsn(), slot: slot, publications: [publication])
        configuration.createSlot = true
        configuration.reconnect = .never
        let stream = ChangeStream(configuration)
        let recorder = Recorder(stream) { transaction in
            if transaction.changes.count == 1 { stream.stop() }
        }
        // Streaming, so the slot has its consistent point (the slot is listed before it has one,
        // while other sessions' transactions are still running).
        #expect(eventually(seconds: 30) { stream.metrics.isConnected })
        try TestServer.sql("INSERT INTO \(table) (v) VALUES ('through')")
        #expect(recorder.wait(seconds: 30))
        if let error = recorder.error { throw error }
        #expect(recorder.delivered.first?.changes.first?.values["v"] == .text("through"))
    }
}
