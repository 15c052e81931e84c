import Foundation
import PGLocalCluster
import PGReplication
import Testing

@Suite struct CommandTests {
    @Test(arguments: ["", "options='-c datestyle=german'"])
    func identifySystemOnBothConnectionKinds(extra: String) throws {
        for type in ReplicationType.allCases {
            let dsn = try TestServer.dsn(extra)
            let connection: ReplicationConnection =
                type == .logical ? try LogicalReplicationConnection(dsn) : try PhysicalReplicationConnection(dsn)
            defer { connection.close() }
            #expect(connection.replicationType == type)
            let cursor = try connection.cursor()
            try cursor.execute("IDENTIFY_SYSTEM")
            #expect(cursor.columnNames == ["systemid", "timeline", "xlogpos", "dbname"])
            let rows = try cursor.fetchall()
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(row[1] == "1")
            #expect(try LSN(#require(row[2])) > 0)
            #expect(row[3] == (type == .logical ? "postgres" : nil))
            let typed = try cursor.identifySystem()
            #expect(typed.systemID == row[0])
            #expect(typed.timeline == 1)
            #expect(connection.serverVersion >= 100000)
            #expect(connection.backendPID > 0)
            #expect(try connection.fileno() >= 0)
        }
    }

    @Test func dsnIsRewrittenAsPsycopg2Does() throws {
        let logical = try LogicalReplicationConnection(TestServer.dsn("password=secret"))
        defer { logical.close() }
        #expect(logical.dsn.contains("replication=database"))
        #expect(logical.dsn.contains("dbname=postgres"))
        #expect(logical.dsn.contains("password=xxx"))
        #expect(!logical.dsn.contains("secret"))
        let physical = try PhysicalReplicationConnection(TestServer.dsn())
        defer { physical.close() }
        #expect(physical.dsn.contains("replication=true"))
        #expect(physical.dsn.contains("dbname=replication"))
    }

    @Test func showAndPlainSQLOnALogicalConnection() throws {
        let connection = try LogicalReplicationConnection(TestServer.dsn())
        defer { connection.close() }
        let cursor = try connection.cursor()
        #expect(try cursor.show("wal_level") == "logical")
        try cursor.execute("SELECT 1 AS one, NULL::text AS nothing")
        #expect(try cursor.fetchall() == [["1", nil]])
        #expect(cursor.rowcount == 1)
        #expect(try cursor.fetchall() == [])
        try cursor.execute("SELECT pg_catalog.set_config('application_name', 'x', false) WHERE false")
        #expect(try cursor.fetchone() == nil)
    }

    @Test(.requires(.testDecoding)) func createExistingSlotIsAProgrammingError() throws {
        let slot = TestServer.uniqueName("dup")
        defer { TestServer.dropSlot(slot) }
        let connection = try LogicalReplicationConnection(TestServer.dsn())
        defer { connection.close() }
        let cursor = try connection.cursor()
        let created = try cursor.createReplicationSlot(slot, outputPlugin: "test_decoding")
        #expect(created.slotName == slot)
        #expect(created.consistentPoint > 0)
        #expect(created.snapshotName != nil)
        #expect(created.outputPlugin == "test_decoding")
        let error = try #require(throws: PGError.self) {
            try cursor.createReplicationSlot(slot, outputPlugin: "test_decoding")
        }
        #expect(error.kind == .programming)
        #expect(error.sqlState == .duplicateObject)
        #expect(error.message.contains(slot))
    }

    @Test(.requires(.testDecoding)) func startOnMissingSlotFailsThenWorksOnceTheSlotExists() throws {
        let slot = TestServer.uniqueName("missing")
        defer { TestServer.dropSlot(slot) }
        let connection = try LogicalReplicationConnection(TestServer.dsn())
        defer { connection.close() }
        let cursor = try connection.cursor()
        let error = try #require(throws: PGError.self) {
            try cursor.startReplication(slotName: slot, decode: true)
        }
        #expect(error.kind == .programming)
        #expect(error.sqlState == .undefinedObject)
        try cursor.createReplicationSlot(slot, outputPlugin: "test_decoding")
        try cursor.startReplication(slotName: slot, decode: true)
        #expect(cursor.isReplicating)
        try cursor.stopReplication()
    }

    @Test(.requires(.testDecoding)) func badPluginOptionIsADataErrorAndTheCursorStartsAfterwards() throws {
        let slot = TestServer.uniqueName("badopt")
        defer { TestServer.dropSlot(slot) }
        let connection = try LogicalReplicationConnection(TestServer.dsn())
        defer { connection.close() }
        let cursor = try connection.cursor()
        try cursor.createReplicationSlot(slot, outputPlugin: "test_decoding")
        let error = try #require(throws: PGError.self) {
            try cursor.startReplication(slotName: slot, options: ["no-such-option": "1"], decode: true)
        }
        #expect(error.kind == .data)
        #expect(error.sqlState == .invalidParameterValue)
        try cursor.startReplication(slotName: slot, decode: true)
        #expect(cursor.isReplicating)
        try cursor.stopReplication()
    }

    @Test func slotOptionsTemporaryTwoPhaseSnapshotAndReserveWAL() throws {
        let connection = try LogicalReplicationConnection(TestServer.dsn())
        defer { connection.close() }
        let cursor = try connection.cursor()
        let temporary = TestServer.uniqueName("tmp")
        let slot = try cursor.createReplicationSlot(
            temporary, outputPlugin: "pgoutput", temporary: true, twoPhase: true, snapshot: .nothing)
        #expect(slot.snapshotName == nil)
        let row = try TestServer.sql(
            "SELECT temporary, two_phase FROM pg_replication_slots WHERE slot_name = '\(temporary)'")
        #expect(row.rows == [["t", "t"]])
        try cursor.dropReplicationSlot(temporary, wait: true)
        #expect(try !TestServer.slotExists(temporary))

        let physical = try PhysicalReplicationConnection(TestServer.dsn())
        defer { physical.close() }
        let physicalCursor = try physical.cursor()
        let name = TestServer.uniqueName("phys")
        defer { TestServer.dropSlot(name) }
        let created = try physicalCursor.createReplicationSlot(name, reserveWAL: true)
        #expect(created.slotName == name)
        let position = try #require(try physicalCursor.readReplicationSlot(name))
        #expect(position.slotType == "physical")
        #expect(position.restartLSN != nil)
        #expect(try physicalCursor.readReplicationSlot("no_such_slot_here") == nil)
    }
}
