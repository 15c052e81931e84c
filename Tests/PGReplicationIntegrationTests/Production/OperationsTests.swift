import Foundation
import MetricsTestKit
import PGLocalCluster
import PGOutput
import PGReplication
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Metrics, heartbeats and schema-change events of a running ChangeStream.
@Suite(.serialized) struct OperationsTests {
    @Test func metricsReachTheFactoryWithTheSlotAsDimension() throws {
        let fixture = try StreamFixture()
        let metrics = TestMetrics()
        var configuration = fixture.configuration()
        configuration.reconnect = .init(initialDelay: .seconds(0.05), maxDelay: .seconds(0.2))
        let running = RunningStream(configuration, metricsFactory: metrics)
        defer { running.stop() }
        #expect(running.waitConnected())
        for _ in 0..<5 { try fixture.insert(3) }
        #expect(running.wait { $0.filter { if case .transaction = $0 { true } else { false } }.count == 5 })
        let slot = [("slot", fixture.slot)]
        #expect(metrics.counterTotal(label: "pgrepl_transactions_total", dimensions: slot) == 5)
        #expect(metrics.counterTotal(label: "pgrepl_changes_total", dimensions: slot) == 15)
        // Acknowledged by the stream once the handler returned: latency and lag are recorded.
        // A timer exists only from its first value (expectTimer throws until then): a poll that
        // never finds it fails the expectation.
        #expect(eventually { ((try? metrics.expectTimer("pgrepl_acknowledge_latency", slot))?.values.count ?? 0) >= 5 })
        let lag = try metrics.expectGauge("pgrepl_lag_bytes", slot)
        #expect(lag.lastValue != nil)
        // A reconnect is counted; the bytes received are counted by connection.
        let pid = try #require(try TestServer.activePID(fixture.slot))
        try TestServer.sql("SELECT pg_terminate_backend(\(pid))")
        #expect(eventually { metrics.counterTotal(label: "pgrepl_reconnects_total", dimensions: slot) == 1 })
        #expect(metrics.counterTotal(label: "pgrepl_received_bytes_total", dimensions: slot) > 0)
        #expect(running.stream.metrics.reconnects == 1)
    }

    @Test func snapshotRowsAreCounted() throws {
        let table = TestServer.uniqueName("msnap")
        try TestServer.sql(
            "CREATE TABLE \(table) (id int PRIMARY KEY); INSERT INTO \(table) SELECT generate_series(1, 250)")
        defer {
            TestServer.dropSlot("\(table)_slot")
            TestServer.dropQuietly("DROP PUBLICATION IF EXISTS \(table)_pub; DROP TABLE IF EXISTS \(table)")
        }
        var configuration = ChangeStream.Configuration(
            dsn: try TestServer.dsn(), slot: "\(table)_slot", publications: ["\(table)_pub"])
        configuration.createSlot = true
        configuration.createPublication = .tables([table])
        configuration.initialSnapshot = true
        configuration.snapshotBatchSize = 100
        let metrics = TestMetrics()
        let running = RunningStream(configuration, metricsFactory: metrics)
        defer { running.stop() }
        #expect(
            running.wait { events in
                events.contains { if case .snapshot(let batch) = $0 { batch.isLast } else { false } }
            })
        #expect(
            metrics.counterTotal(label: "pgrepl_snapshot_rows_total", dimensions: [("slot", "\(table)_slot")]) == 250)
    }

    /// The walsender is stopped with SIGSTOP: connected, but nothing comes. The heartbeat notices:
    /// a `.stalled` event, the gauge, and, once the walsender runs again, the gauge back at 0.
    @Test func aStoppedWalsenderIsReportedAsAStall() throws {
        let fixture = try StreamFixture()
        let metrics = TestMetrics()
        var configuration = fixture.configuration()
        configuration.heartbeat = .init(interval: .seconds(0.3), deadline: .seconds(1.5))
        configuration.reconnect = .never
        let running = RunningStream(configuration, metricsFactory: metrics)
        defer { running.stop() }
        #expect(running.waitConnected())
        let slot = [("slot", fixture.slot)]
        // Heartbeats come back, and never reach the handler.
        #expect(
            // Absent until its first value; never found, the expectation fails.
            eventually { ((try? metrics.expectTimer("pgrepl_heartbeat_round_trip", slot))?.values.count ?? 0) >= 2 })
        #expect(!running.received.contains { if case .message = $0 { true } else { false } })
        let pid = try #require(try TestServer.activePID(fixture.slot))
        kill(pid_t(pid), SIGSTOP)
        let stalled = running.wait(seconds: 15) { events in
            events.contains { if case .stalled = $0 { true } else { false } }
        }
        kill(pid_t(pid), SIGCONT)
        #expect(stalled, "no .stalled event while the walsender was stopped")
        if case .stalled(let stall)? = running.received.first(where: { if case .stalled = $0 { true } else { false } })
        {
            #expect(stall.overdue >= 1.5)
            #expect(stall.explanation.contains("synchronized_standby_slots"))
        }
        #expect(metrics.counterTotal(label: "pgrepl_stalls_total", dimensions: slot) == 1)
        // Absent until its first value; never found, the expectation fails.
        #expect(eventually { (try? metrics.expectGauge("pgrepl_stalled", slot))?.lastValue == 0 })
        #expect(running.error == nil)
    }

    @Test func aStallCanEndTheStream() throws {
        let fixture = try StreamFixture()
        var configuration = fixture.configuration()
        configuration.heartbeat = .init(interval: .seconds(0.3), deadline: .seconds(1.5), onStall: .fail)
        configuration.reconnect = .never
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected())
        Thread.sleep(forTimeInterval: 0.8)
        let pid = try #require(try TestServer.activePID(fixture.slot))
        kill(pid_t(pid), SIGSTOP)
        defer { kill(pid_t(pid), SIGCONT) }
        #expect(running.waitEnded(seconds: 20))
        kill(pid_t(pid), SIGCONT)
        let error = try #require(running.error as? ChangeStreamError, "\(String(describing: running.error))")
        #expect(error.kind == .stalled)
    }

    /// On a database where nothing is written, the heartbeats alone move the slot.
    @Test func heartbeatsMoveAnIdleSlot() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION p FOR TABLE t")
        try cluster.psql("SELECT pg_create_logical_replication_slot('idle', 'pgoutput')")
        let before = try LSN(cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots"))
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "idle", publications: ["p"])
        configuration.heartbeat = .init(interval: .seconds(0.2))
        configuration.statusInterval = .seconds(1)
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected())
        #expect(
            try eventually(seconds: 15) {
                try LSN(cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots")) > before
            })
        #expect(running.received.isEmpty)
    }

    /// `ALTER TABLE` mid-stream: the schema change comes before the first change of the new shape;
    /// a reconnect (which describes every table again) gives none.
    @Test func schemaChangesComeBeforeTheFirstChangeOfTheNewShape() throws {
        let fixture = try StreamFixture()
        var configuration = fixture.configuration()
        configuration.reconnect = .init(initialDelay: .seconds(0.05), maxDelay: .seconds(0.2))
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected())
        try fixture.insert(1, value: "old shape")
        try TestServer.sql("ALTER TABLE \(fixture.table) ADD COLUMN n int")
        try TestServer.sql("INSERT INTO \(fixture.table) (v, n) VALUES ('new shape', 7)")
        try TestServer.sql("ALTER TABLE \(fixture.table) RENAME COLUMN n TO m")
        try TestServer.sql("INSERT INTO \(fixture.table) (v, m) VALUES ('renamed', 8)")
        try TestServer.sql("ALTER TABLE \(fixture.table) ALTER COLUMN m TYPE bigint")
        try TestServer.sql("INSERT INTO \(fixture.table) (v, m) VALUES ('retyped', 9)")
        #expect(running.wait { events in events.contains { ($0.firstValue ?? "") == "retyped" } })
        let pid = try #require(try TestServer.activePID(fixture.slot))
        try TestServer.sql("SELECT pg_terminate_backend(\(pid))")
        #expect(eventually { running.stream.metrics.reconnects == 1 && running.stream.metrics.isConnected })
        try fixture.insert(1, value: "after the reconnect")
        #expect(running.wait { events in events.contains { ($0.firstValue ?? "") == "after the reconnect" } })
        let trace = running.received.compactMap { event -> String? in
            switch event {
            case .transaction: return event.firstValue
            case .schemaChange(let change):
                return "S+\(change.added)-\(change.dropped)~\(change.retyped)"
                    + change.renamed.map { ">\($0.from)=\($0.to)" }.joined()
            default: return nil
            }
        }
        #expect(
            trace == [
                "old shape", "S+[\"n\"]-[]~[]", "new shape", "S+[]-[]~[]>n=m", "renamed", "S+[]-[]~[\"m\"]",
                "retyped", "after the reconnect",
            ], "\(trace)")
    }
}

extension PGChangeEvent {
    /// The `v` column of a transaction's first change.
    var firstValue: String? {
        guard case .transaction(let transaction) = self else { return nil }
        return transaction.changes.first?.newText("v")
    }
}
