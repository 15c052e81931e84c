import Foundation
import PGLocalCluster
import PGReplication
import Testing

/// psycopg2's argument checks (`psycopg/replication_cursor_type.c`), worded with the Swift names, as `.programming`.
@Suite struct ArgumentCheckTests {
    func expectProgramming(_ message: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected a programming error: \(message)")
        } catch let error as PGError {
            #expect(error.kind == .programming)
            #expect(error.message == message)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(.requires(.testDecoding)) func checksBeforeAnythingIsSent() throws {
        let logical = try LogicalReplicationConnection(TestServer.dsn())
        defer { logical.close() }
        let cursor = try logical.cursor()
        expectProgramming("output plugin name is required to create logical replication slot") {
            try cursor.createReplicationSlot("s")
        }
        expectProgramming("cannot specify output plugin name when creating physical replication slot") {
            try cursor.createReplicationSlot("s", slotType: .physical, outputPlugin: "test_decoding")
        }
        expectProgramming("slot name is required for logical replication") { try cursor.startReplication() }
        expectProgramming("slot name is required for logical replication") { try cursor.startReplication(slotName: "") }
        expectProgramming("cannot specify timeline for logical replication") {
            try cursor.startReplication(slotName: "s", timeline: 2)
        }
        expectProgramming("cannot specify output plugin options for physical replication") {
            try cursor.startReplication(slotType: .physical, options: ["a": "b"])
        }
        expectProgramming("statusInterval must be >= 1 (sec)") {
            try cursor.startReplication(slotName: "s", statusInterval: 0.5)
        }
        expectProgramming("can't execute an empty query") { try cursor.startReplicationExpert("") }
        expectProgramming("can't execute an empty query") { try cursor.execute("") }
        expectProgramming("keepaliveInterval must be >= 1 (sec)") {
            try cursor.consumeStream(keepaliveInterval: 0.5) { _ in }
        }
        expectProgramming("consumeStream(): not replicating; call startReplication() first") {
            try cursor.consumeStream { _ in }
        }
        expectProgramming("readMessage(): not replicating; call startReplication() first") {
            _ = try cursor.readMessage()
        }
        expectProgramming("no results to fetch") { _ = try cursor.fetchall() }
        expectProgramming("the slot name must not contain NUL bytes") {
            try cursor.createReplicationSlot("a\u{0}b", outputPlugin: "test_decoding")
        }
    }

    @Test func closedCursorAndConnectionAreInterfaceErrors() throws {
        let connection = try LogicalReplicationConnection(TestServer.dsn())
        let cursor = try connection.cursor()
        cursor.close()
        #expect(cursor.closed)
        let error = try #require(throws: PGError.self) { try cursor.identifySystem() }
        #expect(error.kind == .interface)
        #expect(error.message == "cursor already closed")
        let other = try connection.cursor()
        connection.close()
        connection.close()
        #expect(connection.closed)
        #expect(throws: PGError.self) { try other.execute("IDENTIFY_SYSTEM") }
        #expect(throws: PGError.self) { try connection.cursor() }
    }

    @Test(.requires(.testDecoding)) func reentryIntoConsumeStreamIsRefused() throws {
        let fixture = try LogicalFixture()
        try fixture.cursor.startReplication(slotName: fixture.slot, decode: true)
        try fixture.insert(["r"])
        do {
            try fixture.cursor.consumeStream { message in
                expectProgramming("consumeStream() cannot be called from inside its own consumer") {
                    try message.cursor.consumeStream { _ in }
                }
                throw StopReplication()
            }
        } catch is StopReplication {
            // psycopg2's way to end consume_stream: the handler threw it; any other error fails.
        }
        // A command while streaming is refused with a clear error instead of libpq's.
        let error = try #require(throws: PGError.self) { try fixture.cursor.identifySystem() }
        #expect(error.kind == .programming)
        try fixture.cursor.stopReplication()
    }

    @Test(
        .requires(.testDecoding),
        arguments: [
            "x\" LOGICAL \"test_decoding\"; DROP_REPLICATION_SLOT \"VICTIM",
            "a b; DROP_REPLICATION_SLOT VICTIM",
            "x'); DROP_REPLICATION_SLOT \"VICTIM\" --",
            "back\\slash\"\"",
            "ünïcødé_ж",
        ])
    func slotNamesCannotInjectCommands(name: String) throws {
        let victim = TestServer.uniqueName("victim")
        defer { TestServer.dropSlot(victim) }
        try TestServer.sql("SELECT pg_create_logical_replication_slot('\(victim)', 'test_decoding')")
        let connection = try LogicalReplicationConnection(TestServer.dsn())
        defer { connection.close() }
        let cursor = try connection.cursor()
        let hostile = name.replacingOccurrences(of: "VICTIM", with: victim)
        let error = try #require(throws: PGError.self) {
            try cursor.createReplicationSlot(hostile, outputPlugin: "test_decoding")
        }
        #expect(error.kind == .programming)
        #expect(error.sqlState == .syntaxError || error.sqlState == .invalidName)
        #expect(throws: PGError.self) { try cursor.dropReplicationSlot(hostile) }
        #expect(throws: PGError.self) { try cursor.startReplication(slotName: hostile) }
        #expect(try TestServer.slotExists(victim))
        // The connection still works after each refusal.
        #expect(try cursor.identifySystem().timeline == 1)
    }

    @Test(.requires(.testDecoding)) func optionValuesReachThePluginIntact() throws {
        let fixture = try LogicalFixture()
        for value in ["it's", "back\\slash", "ünïcødé ж 🐘", "a'); DROP_REPLICATION_SLOT x; --"] {
            let error = try #require(throws: PGError.self) {
                try fixture.cursor.startReplication(slotName: fixture.slot, options: ["include-xids": "\(value)"])
            }
            #expect(error.kind == .data)
            #expect(error.sqlState == .invalidParameterValue)
            #expect(error.message.contains("\"\(value)\""))
        }
        // An option name is an identifier: quotes in it cannot close the option list. The
        // replication lexer of PostgreSQL 15 refuses a doubled quote in an identifier (a syntax
        // error); later ones read it as part of the name, which the plugin refuses as unknown.
        let error = try #require(throws: PGError.self) {
            try fixture.cursor.startReplication(slotName: fixture.slot, options: ["x\" '1'), (\"y": "1"])
        }
        #expect([.syntaxError, .invalidParameterValue].contains(error.sqlState), "\(error)")
        #expect(try TestServer.slotExists(fixture.slot))
    }

    @Test func nonASCIIPublicationNameWorksEndToEnd() throws {
        let table = try TestServer.makeTable("uni")
        let publication = "pub_ünï_ж_\(UInt16.random(in: 0...UInt16.max))"
        try TestServer.sql("CREATE PUBLICATION \"\(publication)\" FOR TABLE \(table)")
        defer {
            TestServer.dropQuietly("DROP PUBLICATION IF EXISTS \"\(publication)\"")
            TestServer.dropQuietly("DROP TABLE IF EXISTS \(table)")
        }
        let slot = TestServer.uniqueName("uni")
        defer { TestServer.dropSlot(slot) }
        let connection = try LogicalReplicationConnection(TestServer.dsn())
        defer { connection.close() }
        let cursor = try connection.cursor()
        try cursor.createReplicationSlot(slot, outputPlugin: "pgoutput")
        try cursor.startReplication(
            slotName: slot, options: ["proto_version": 1, "publication_names": "\(publication)"])
        try TestServer.sql("INSERT INTO \(table) (v) VALUES ('ж')")
        let messages = try pollMessages(cursor, seconds: 10) { $0.withUnsafePayload { $0.first } == UInt8(ascii: "C") }
        #expect(messages.count == 4)
        let insert = try #require(messages.first { $0.withUnsafePayload { $0.first } == UInt8(ascii: "I") })
        #expect(insert.payloadBytes.suffix(2) == Array("ж".utf8))
    }
}
