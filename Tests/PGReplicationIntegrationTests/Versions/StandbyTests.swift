import Foundation
import MetricsTestKit
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Logical decoding on a physical standby (PostgreSQL 16+) and failover slots (17+), on a
/// throwaway primary and its standby.
@Suite(.serialized) struct StandbyTests {
    /// The ids the stream delivered, in order.
    private func ids(_ events: [PGChangeEvent]) -> [Int] {
        events.flatMap { event -> [Int] in
            guard case .transaction(let transaction) = event else { return [] }
            return transaction.changes.compactMap { change in
                // An id that cannot be read is -1, which no expected list holds.
                if case .insert(_, let row) = change { return (try? row["id", as: Int.self]) ?? -1 }
                return nil
            }
        }
    }

    /// A primary with table `t` and publication `p`, and a hot standby (physical slot `standby1`)
    /// that has replayed the publication, for logical decoding on the standby.
    static func decodingStandby() throws -> (primary: LocalCluster, standby: LocalCluster) {
        let primary = try LocalCluster.start(testClusterConfiguration)
        do {
            try primary.psql("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION p FOR TABLE t")
            let standby = try primary.startStandby(settings: ["hot_standby_feedback": "on"], physicalSlot: "standby1")
            do {
                let replayed = try eventually(seconds: 60) {
                    try standby.psql("SELECT count(*) FROM pg_publication WHERE pubname = 'p'") == "1"
                }
                #expect(replayed, "the standby never replayed publication p")
            } catch {
                standby.destroy()
                throw error
            }
            return (primary, standby)
        } catch {
            primary.destroy()
            throw error
        }
    }

    /// A logical slot made on a standby streams what the primary writes.
    ///
    /// Creating the slot waits for a consistent point, which on a standby needs a running-xacts
    /// record from the primary. The primary's background writer logs one every 15 seconds;
    /// `pg_log_standby_snapshot()` on the primary logs one at once.
    @Test(.requires(postgres: 16))
    func aLogicalSlotOnAStandbyStreamsThePrimarysChanges() throws {
        let (primary, standby) = try Self.decodingStandby()
        defer {
            standby.destroy()
            primary.destroy()
        }
        #expect(try standby.psql("SELECT pg_is_in_recovery()") == "t")

        var configuration = ChangeStream.Configuration(dsn: standby.dsn(), slot: "on_standby", publications: ["p"])
        configuration.createSlot = true
        configuration.reconnect = .never
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(
            try eventually(seconds: 30) {
                try primary.psql("SELECT pg_log_standby_snapshot()")
                return running.stream.metrics.isConnected
            }, "the slot on the standby found no consistent point: \(String(describing: running.error))")
        for id in 1...20 { try primary.psql("INSERT INTO t VALUES (\(id), 'from the primary')") }
        #expect(running.wait { ids($0).count == 20 }, "\(ids(running.received))")
        #expect(ids(running.received) == Array(1...20))
        // The acknowledgement moves the standby's slot.
        let last = try #require(
            running.stream.metrics.acknowledgedLSN > 0 ? running.stream.metrics.acknowledgedLSN : nil)
        #expect(
            try eventually(seconds: 60) {
                let text = try standby.psql(
                    "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'on_standby'")
                return try LSN(text) >= last
            })
        running.stop()
        #expect(running.error == nil, "\(String(describing: running.error))")
    }

    /// Heartbeats on a stream that decodes on a standby: the standby refuses to write them, which
    /// is a warning that names the way out (not a debug line, with stall detection silently off);
    /// written on the primary (`Heartbeat.dsn`), they come back through the standby's stream.
    @Test(.requires(postgres: 16))
    func heartbeatsOfAStreamOnAStandbyAreWrittenOnThePrimary() throws {
        let (primary, standby) = try Self.decodingStandby()
        defer {
            standby.destroy()
            primary.destroy()
        }
        for (slot, heartbeatDSN) in [("hb_standby", nil), ("hb_primary", primary.dsn())] {
            let capture = LogCapture()
            var configuration = ChangeStream.Configuration(dsn: standby.dsn(), slot: slot, publications: ["p"])
            configuration.createSlot = true
            configuration.reconnect = .never
            configuration.heartbeat = ChangeStream.Heartbeat(interval: .seconds(0.5), dsn: heartbeatDSN)
            let metrics = TestMetrics()
            let running = RunningStream(configuration, logger: capture.logger, metricsFactory: metrics)
            defer { running.stop() }
            #expect(
                try eventually(seconds: 30) {
                    try primary.psql("SELECT pg_log_standby_snapshot()")
                    return running.stream.metrics.isConnected
                }, "the slot on the standby found no consistent point: \(String(describing: running.error))")
            let refused = {
                capture.lines.withLock { $0 }.filter { $0.hasPrefix("warning a heartbeat cannot be written") }
            }
            if heartbeatDSN == nil {
                #expect(eventually(seconds: 10) { !refused().isEmpty })
                #expect(refused().first?.contains("standby") == true, "\(refused())")
                #expect(refused().first?.contains("--heartbeat-dsn") == true, "\(refused())")
                // One warning for the run of failures, not one per heartbeat.
                Thread.sleep(forTimeInterval: 2)
                #expect(refused().count == 1, "\(refused())")
            } else {
                // Heartbeats come back: the primary's messages reach the standby's walsender. A
                // running-xacts record now and then keeps the standby's decoding moving.
                #expect(
                    try eventually(seconds: 30) {
                        try primary.psql("SELECT pg_log_standby_snapshot()")
                        // Absent until its first value; never found, the expectation fails.
                        let timer = try? metrics.expectTimer("pgrepl_heartbeat_round_trip", [("slot", slot)])
                        return (timer?.values.count ?? 0) >= 2
                    }, "\(capture.lines.withLock { $0 })")
                #expect(refused().isEmpty, "\(refused())")
            }
            running.stop()
            #expect(running.error == nil, "\(String(describing: running.error))")
        }
    }

    /// A primary with table `t` and publication `p`, and a standby that synchronizes its failover
    /// slots (`sync_replication_slots`) through the physical slot `standby1`.
    static func failoverPair() throws -> (primary: LocalCluster, standby: LocalCluster) {
        var configuration = testClusterConfiguration
        // Logical walsenders send nothing the standby has not received: after a promotion the
        // consumer has seen nothing the new primary lacks.
        configuration.settings["synchronized_standby_slots"] = "standby1"
        let primary = try LocalCluster.start(configuration)
        do {
            try primary.psql("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION p FOR TABLE t")
            // The promoted standby has no standby of its own: were it to keep the primary's
            // synchronized_standby_slots, its logical walsenders would wait for a slot that is not
            // there, and send nothing, without an error.
            let standby = try primary.startStandby(
                settings: [
                    "hot_standby_feedback": "on", "sync_replication_slots": "on", "synchronized_standby_slots": "",
                ],
                physicalSlot: "standby1")
            return (primary, standby)
        } catch {
            primary.destroy()
            throw error
        }
    }

    /// A failover slot on the primary, synchronized to a standby (`sync_replication_slots`);
    /// the primary fails, the standby is promoted, and the stream, given both hosts, continues
    /// on it: every transaction once, none lost.
    @Test(.requires(postgres: 17))
    func aFailoverSlotContinuesOnThePromotedStandby() throws {
        let (primary, standby) = try Self.failoverPair()
        defer {
            standby.destroy()
            primary.destroy()
        }
        let connection = try LogicalReplicationConnection(primary.dsn())
        try connection.cursor().createReplicationSlot(
            "fs", outputPlugin: "pgoutput", snapshot: .nothing, failover: true)
        connection.close()

        let dsn =
            "host=127.0.0.1,127.0.0.1 port=\(primary.port),\(standby.port) dbname=postgres user=postgres"
            + " target_session_attrs=primary connect_timeout=5"
        var stream = ChangeStream.Configuration(dsn: dsn, slot: "fs", publications: ["p"])
        stream.reconnect = .init(maxAttempts: 200, initialDelay: .seconds(0.1), maxDelay: .seconds(0.5))
        let running = RunningStream(stream)
        defer { running.stop() }
        #expect(running.waitConnected())
        for id in 1...100 { try primary.psql("INSERT INTO t VALUES (\(id), 'before')") }
        #expect(running.wait { ids($0).count >= 100 })
        let acknowledged = running.stream.metrics.acknowledgedLSN
        // The standby's copy of the slot is synchronized (and persistent) up to what was handled.
        #expect(
            try eventually(seconds: 60) {
                let row = try standby.psql(
                    "SELECT synced, temporary, confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'fs'")
                let fields = row.split(separator: "|").map(String.init)
                guard fields.count == 3, fields[0] == "t", fields[1] == "f" else { return false }
                return try LSN(fields[2]) >= acknowledged
            }, "the standby never synchronized slot fs")

        try primary.stop(mode: .immediate)
        try standby.promote()
        for id in 101...150 { try standby.psql("INSERT INTO t VALUES (\(id), 'after')") }
        #expect(running.wait(seconds: 60) { ids($0).count >= 150 }, "\(running.error.map { "\($0)" } ?? "")")
        running.stop()
        #expect(running.error == nil, "\(String(describing: running.error))")
        #expect(ids(running.received) == Array(1...150))
        #expect(running.stream.metrics.reconnects >= 1)
    }

    /// `pgrepl stream` through a failover a failover manager would make: the primary dies, and
    /// its standby is promoted 15 s later. The CLI's default reconnect budget (`--reconnect-for`,
    /// 120 s) covers the wait, each attempt is a warning with its cause, and the stream goes on
    /// on the promoted standby with every transaction once.
    @Test(.requires(postgres: 17), .timeLimit(.minutes(3)))
    func theCLIOutlivesAPromotion15SecondsAfterThePrimaryDies() throws {
        let (primary, standby) = try Self.failoverPair()
        defer {
            standby.destroy()
            primary.destroy()
        }
        let created = try pgrepl("slot", "create", "--dsn", primary.dsn(), "--slot", "fs", "--failover")
        #expect(created.status == 0, "\(created)")
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let file = folder + "/out.jsonl"
        let dsn =
            "host=127.0.0.1,127.0.0.1 port=\(primary.port),\(standby.port) dbname=postgres user=postgres"
            + " target_session_attrs=primary connect_timeout=5"
        let process = try RunningProcess.pgrepl([
            "stream", "--dsn", dsn, "--slot", "fs", "--publication", "p", "--output", file, "--status-interval", "1",
        ])
        defer { process.signal(SIGKILL) }
        func ids() -> [Int] {
            readTextFile(file).split(separator: "\n").compactMap { line -> Int? in
                // pgrepl is running: its last line may be half written (then skipped until whole).
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    object["action"] as? String == "I", let columns = object["columns"] as? [[String: Any]]
                else { return nil }
                return columns.first { $0["name"] as? String == "id" }?["value"] as? Int
            }
        }
        for id in 1...100 { try primary.psql("INSERT INTO t VALUES (\(id), 'before')") }
        #expect(eventually { ids().count >= 100 }, "\(process.stderr)")
        // What was acknowledged reached the standby's synchronized copy of the slot.
        #expect(
            try eventually(seconds: 60) {
                let acknowledged = try LSN(
                    primary.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'fs'"))
                let row = try standby.psql(
                    "SELECT synced, confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'fs'")
                let fields = row.split(separator: "|").map(String.init)
                guard fields.count == 2, fields[0] == "t", acknowledged > 0 else { return false }
                return try LSN(fields[1]) >= acknowledged
            }, "the standby never synchronized slot fs")

        try primary.stop(mode: .immediate)
        Thread.sleep(forTimeInterval: 15)
        #expect(process.isRunning, "pgrepl gave up before the promotion: \(process.stderr)")
        try standby.promote()
        for id in 101...150 { try standby.psql("INSERT INTO t VALUES (\(id), 'after')") }
        #expect(eventually(seconds: 60) { ids().count >= 150 }, "\(process.stderr)")
        process.signal(SIGTERM)
        let result = try process.finish(within: 30)
        #expect(result.status == 130, "\(result)")
        #expect(ids() == Array(1...150))
        let warnings = result.stderr.split(separator: "\n").filter { $0.hasPrefix("pgrepl: warning:") }
        #expect(warnings.count >= 3, "\(result.stderr)")
    }

    /// A reconnect that reaches a different database system fails, instead of streaming a slot
    /// of the same name there.
    @Test func aReconnectToAnotherSystemIsAnError() throws {
        let first = try LocalCluster.start(testClusterConfiguration)
        defer { first.destroy() }
        let second = try LocalCluster.start(testClusterConfiguration)
        defer { second.destroy() }
        for cluster in [first, second] {
            try cluster.psql("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION p FOR TABLE t")
            try cluster.psql("SELECT pg_create_logical_replication_slot('s', 'pgoutput')")
        }
        // Both hosts, the first preferred: when it goes, libpq reaches the second.
        let dsn = "host=127.0.0.1,127.0.0.1 port=\(first.port),\(second.port) dbname=postgres user=postgres"
        var configuration = ChangeStream.Configuration(dsn: dsn, slot: "s", publications: ["p"])
        configuration.reconnect = .init(maxAttempts: 50, initialDelay: .seconds(0.05), maxDelay: .seconds(0.2))
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.waitConnected())
        try first.psql("INSERT INTO t VALUES (1, 'first')")
        #expect(running.wait { ids($0) == [1] })
        try first.stop(mode: .immediate)
        #expect(running.waitEnded(seconds: 30))
        let error = try #require(running.error as? ChangeStreamError, "\(String(describing: running.error))")
        #expect(error.kind == .differentSystem)
        #expect(error.message.contains("system identifier"))
    }
}
