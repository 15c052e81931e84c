import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import Testing

/// `streaming = .parallel` (protocol 4, PostgreSQL 16+) against a live server: large transactions
/// streamed in chunks and interleaved, a subtransaction rolled back after its changes were
/// streamed, a whole transaction rolled back, and two-phase transactions streamed before PREPARE.
///
/// PostgreSQL 18 no longer decodes a large transaction that is known to have rolled back, so the
/// chunked tests wait for a transaction's changes to arrive before they roll it back: only then
/// is a Stream Abort certain.
@Suite(.serialized, .requires(postgres: 16))
struct ParallelStreamingTests {
    static let rows = 2000

    /// Two connections, each with a transaction open, and what the stream delivered.
    struct Scenario {
        var committedXID: UInt32 = 0
        var rolledBackXID: UInt32 = 0
        var events: [PGChangeEvent] = []
    }

    func interleave(_ delivery: PGChangeDelivery) throws -> Scenario {
        let fixture = try StreamFixture()
        var configuration = fixture.configuration(dsnExtra: "options='-c logical_decoding_work_mem=64kB'")
        configuration.streaming = .parallel
        configuration.delivery = delivery
        configuration.reconnect = .never
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected())
        let chunked = delivery != .assembled
        func streamed(_ xid: UInt32, subtransaction: Bool = false) {
            guard chunked else { return }
            let arrived = running.wait { events in
                events.contains { event in
                    guard case .changes(let batch) = event, batch.xid == xid else { return false }
                    return subtransaction ? batch.subtransactionXID != xid : true
                }
            }
            #expect(arrived, "no streamed changes of transaction \(xid)\(subtransaction ? "'s subtransaction" : "")")
        }
        let a = try PGConnection(TestServer.dsn())
        defer { a.close() }
        let b = try PGConnection(TestServer.dsn())
        defer { b.close() }
        var scenario = Scenario()
        func insert(_ connection: PGConnection, _ value: String, _ count: Int = Self.rows) throws {
            try connection.execute(
                "INSERT INTO \(fixture.table) (v) SELECT '\(value)' FROM generate_series(1, \(count))")
        }
        try a.execute("BEGIN")
        scenario.committedXID = try #require(UInt32(a.execute("SELECT pg_current_xact_id()").scalar ?? ""))
        try insert(a, "a1")
        try b.execute("BEGIN")
        scenario.rolledBackXID = try #require(UInt32(b.execute("SELECT pg_current_xact_id()").scalar ?? ""))
        try insert(b, "b")
        streamed(scenario.committedXID)
        streamed(scenario.rolledBackXID)
        try a.execute("SAVEPOINT s")
        try insert(a, "a-rolled-back")
        streamed(scenario.committedXID, subtransaction: true)
        try a.execute("ROLLBACK TO SAVEPOINT s")
        try insert(a, "a2", 10)
        try fixture.insert(1, value: "small")
        try b.execute("ROLLBACK")
        try a.execute("COMMIT")
        try fixture.insert(1, value: "end")
        let ended = running.wait { events in
            events.contains { event in
                switch event {
                case .transaction(let transaction): transaction.changes.first?.newText("v") == "end"
                case .changes(let batch): batch.changes.first?.newText("v") == "end"
                default: false
                }
            }
        }
        #expect(ended, "the last transaction did not arrive")
        running.stop()
        #expect(running.error == nil, "\(running.error.map { "\($0)" } ?? "")")
        scenario.events = running.received
        return scenario
    }

    @Test func assembledDeliveryGivesTheCommittedTransactionWhole() throws {
        let scenario = try interleave(.assembled)
        let transactions = scenario.events.compactMap { event -> PGTransaction? in
            if case .transaction(let transaction) = event { return transaction }
            return nil
        }
        let large = try #require(transactions.first { $0.xid == scenario.committedXID })
        #expect(large.isStreamed)
        let values = large.changes.compactMap { $0.newText("v") }
        #expect(values.count == Self.rows + 10)
        #expect(Set(values) == ["a1", "a2"])
        #expect(!transactions.contains { $0.xid == scenario.rolledBackXID })
        let firstValues = transactions.map { $0.changes.first?.newText("v") }
        #expect(firstValues.contains("small"))
        // The small transaction committed before the large one and comes first.
        let order = transactions.compactMap { $0.changes.first?.newText("v") }
        #expect(order.firstIndex(of: "small") ?? 99 < order.firstIndex(of: "a1") ?? -1)
    }

    @Test func chunkedDeliveryGivesAbortsWithTheirLSNAndTime() throws {
        let scenario = try interleave(.chunked(batchSize: 500))
        let aborts = scenario.events.compactMap { event -> PGTransactionAbort? in
            if case .abort(let abort) = event { return abort }
            return nil
        }
        let whole = try #require(aborts.first { $0.xid == scenario.rolledBackXID })
        #expect(whole.abortsWholeTransaction)
        #expect(whole.reason == .rolledBack)
        #expect((whole.abortLSN ?? 0) > 0)
        #expect(whole.abortTime != nil)
        let sub = try #require(aborts.first { $0.xid == scenario.committedXID })
        #expect(!sub.abortsWholeTransaction)
        #expect((sub.abortLSN ?? 0) > 0 && (sub.abortLSN ?? 0) < (whole.abortLSN ?? 0))
        #expect(sub.abortTime != nil)
        // The batches of the committed transaction, minus those of its rolled-back subtransaction.
        var kept: [String] = []
        var committed = false
        for event in scenario.events {
            switch event {
            case .changes(let batch) where batch.xid == scenario.committedXID:
                #expect(!committed)
                if batch.subtransactionXID != sub.subtransactionXID {
                    kept += batch.changes.compactMap { $0.newText("v") }
                }
            case .commit(let transaction) where transaction.xid == scenario.committedXID:
                #expect(transaction.isStreamed)
                committed = true
            case .commit(let transaction) where transaction.xid == scenario.rolledBackXID:
                Issue.record("a commit of the rolled-back transaction")
            default: break
            }
        }
        #expect(committed)
        #expect(kept.count == Self.rows + 10)
        #expect(Set(kept) == ["a1", "a2"])
    }

    /// Two-phase with streaming: both prepared transactions are streamed before PREPARE; one is
    /// committed, the other rolled back, as separate events.
    @Test(arguments: [PGChangeDelivery.assembled, .chunked(batchSize: 1000)])
    func twoPhaseTransactionsAreStreamedBeforePrepare(delivery: PGChangeDelivery) throws {
        let table = try TestServer.makeTable("tp")
        let slot = "\(table)_slot"
        try TestServer.sql("CREATE PUBLICATION \(table)_pub FOR TABLE \(table)")
        try TestServer.sql("SELECT pg_create_logical_replication_slot('\(slot)', 'pgoutput', false, true)")
        defer {
            TestServer.dropSlot(slot)
            TestServer.dropQuietly("DROP PUBLICATION IF EXISTS \(table)_pub; DROP TABLE IF EXISTS \(table)")
        }
        var configuration = ChangeStream.Configuration(
            dsn: try TestServer.dsn("options='-c logical_decoding_work_mem=64kB'"), slot: slot,
            publications: ["\(table)_pub"])
        configuration.streaming = .parallel
        configuration.twoPhase = true
        configuration.delivery = delivery
        configuration.reconnect = .never
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected())
        let gids = ["\(table)_commit", "\(table)_rollback"]
        for gid in gids {
            try TestServer.sql(
                "BEGIN; INSERT INTO \(table) (v) SELECT '\(gid)' FROM generate_series(1, 3000); PREPARE TRANSACTION '\(gid)'"
            )
        }
        // A prepared transaction rolled back while the walsender decodes it arrives incomplete
        // (PostgreSQL 15–17 stop at the concurrent abort) or empty (18 skips what it knows was
        // rolled back), then its ROLLBACK PREPARED: so both are rolled back only once prepared.
        let bothPrepared = running.wait { events in
            events.filter { event in
                switch event {
                case .transaction(let transaction), .commit(let transaction):
                    if case .prepare = transaction.kind { return true }
                    return false
                default: return false
                }
            }.count == 2
        }
        #expect(bothPrepared)
        try TestServer.sql("COMMIT PREPARED '\(gids[0])'")
        try TestServer.sql("ROLLBACK PREPARED '\(gids[1])'")
        let finished = running.wait { events in
            events.contains { if case .rollbackPrepared = $0 { true } else { false } }
        }
        #expect(finished)
        running.stop()
        #expect(running.error == nil, "\(running.error.map { "\($0)" } ?? "")")
        var prepared: [String: (streamed: Bool, rows: Int)] = [:]
        var rows: [UInt32: Int] = [:]
        for event in running.received {
            switch event {
            case .transaction(let transaction):
                if case .prepare(let gid) = transaction.kind {
                    prepared[gid] = (transaction.isStreamed, transaction.changes.count)
                }
            case .changes(let batch): rows[batch.xid, default: 0] += batch.changes.count
            case .commit(let transaction):
                if case .prepare(let gid) = transaction.kind {
                    prepared[gid] = (transaction.isStreamed, rows[transaction.xid] ?? 0)
                }
            default: break
            }
        }
        for gid in gids {
            #expect(prepared[gid]?.streamed == true, "\(gid)")
            #expect(prepared[gid]?.rows == 3000, "\(gid)")
        }
        let committedGIDs = running.received.compactMap { event -> String? in
            if case .commitPrepared(let commit) = event { return commit.gid }
            return nil
        }
        let rolledBackGIDs = running.received.compactMap { event -> String? in
            if case .rollbackPrepared(let rollback) = event { return rollback.gid }
            return nil
        }
        #expect(committedGIDs == [gids[0]])
        #expect(rolledBackGIDs == [gids[1]])
    }
}

/// The default, and the mode a server or protocol lacks: an error, never a silent fallback.
@Suite struct StreamingModeTests {
    /// Streaming is off by default: a transaction far larger than `logical_decoding_work_mem`
    /// arrives after its commit, not streamed.
    @Test func theDefaultIsOff() throws {
        let fixture = try StreamFixture()
        var configuration = fixture.configuration(dsnExtra: "options='-c logical_decoding_work_mem=64kB'")
        #expect(configuration.streaming == .off)
        configuration.reconnect = .never
        try fixture.insert(3000)
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.wait { $0.contains { if case .transaction = $0 { true } else { false } } })
        guard case .transaction(let transaction)? = running.received.first else {
            Issue.record("no transaction: \(running.received)")
            return
        }
        #expect(transaction.changes.count == 3000)
        #expect(!transaction.isStreamed)
    }

    @Test func parallelStreamingWithAnOlderProtocolIsRefusedBeforeConnecting() throws {
        var configuration = ChangeStream.Configuration(dsn: "host=/nonexistent", slot: "s", publications: ["p"])
        configuration.streaming = .parallel
        configuration.protocolVersion = 3
        let error = try #require(throws: PGError.self) { try ChangeStream(configuration).consume { _ in } }
        #expect(error.message.contains("streaming"))
        #expect(error.message.contains("protocolVersion 4"))
    }

    /// On PostgreSQL 15 (protocol 3 at most) `.parallel` names the version it needs.
    @Test(
        .enabled(
            if: ServerFeatures.current.majorVersion < 16, "PostgreSQL 15 only: later servers have protocol 4"))
    func parallelStreamingOnPostgres15NamesTheVersionItNeeds() throws {
        let fixture = try StreamFixture()
        var configuration = fixture.configuration()
        configuration.streaming = .parallel
        configuration.reconnect = .never
        let error = try #require(throws: ChangeStreamError.self) { try ChangeStream(configuration).consume { _ in } }
        #expect(error.kind == .cannotStart)
        #expect(error.underlying?.kind == .notSupported)
        #expect(error.message.contains("PostgreSQL 16"), "\(error.message)")
    }
}
