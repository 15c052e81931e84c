import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Notifications that are never lost (`PGNotifications`, `pgrepl stream --format notifications`).
@Suite(.serialized) struct NotificationTests {
    /// 10,000 notifications from four concurrent sessions, one to three per transaction, a tenth
    /// of the transactions rolled back, and a notification on another channel in some. Meanwhile
    /// the receiver's walsender is killed, the server restarts, and the receiving process is
    /// killed with SIGKILL and started again. Every committed notification arrives, each
    /// session's in its commit order, the lines of each run in commit order; no rolled-back one
    /// and none of the other channel ever does.
    @Test func tenThousandNotificationsThroughKillsAndARestart() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let dsn = cluster.dsn()
        func receiver(_ run: Int) throws -> RunningProcess {
            try RunningProcess.pgrepl([
                "stream", "--dsn", dsn, "--slot", "notes", "--create-slot", "--format", "notifications",
                "--channel", "jobs", "--output", "\(folder)/run\(run).jsonl",
            ])
        }
        var process = try receiver(1)
        defer { process.signal(SIGKILL) }
        // Sent once the slot exists: from its creation on, nothing is lost.
        #expect(
            eventually(seconds: 60) {
                (try? cluster.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'notes'")) == "1"
            }, "the receiver made no slot: \(process.stderr)")

        struct Progress {
            var sent = 0
            var inFlight = 0
            var paused = false
            var committed: [String] = []
            var rolledBack: [String] = []
            var failure: String?
            var writersDone = 0
        }
        let progress = Locked(Progress())
        let total = 10_000
        let writers = (0..<4).map { writer in
            Thread {
                var sequence = 0
                var connection: PGConnection?
                var random = SystemRandomNumberGenerator()
                while progress.withLock({ $0.sent < total && $0.failure == nil }) {
                    // A restart waits until no transaction is in flight: a commit the restart cut
                    // would have no known outcome.
                    progress.withLock(when: { !$0.paused }) { state, _ in state.inFlight += 1 }
                    defer {
                        progress.withLock { $0.inFlight -= 1 }
                        progress.broadcast()
                    }
                    let count = Int.random(in: 1...3, using: &random)
                    let rollback = Int.random(in: 0..<10, using: &random) == 0
                    var payloads: [String] = []
                    do {
                        // The restart closed the idle connections: one that fails at BEGIN sent
                        // nothing, and is opened again.
                        var sql = try connection ?? PGConnection(dsn)
                        do {
                            try sql.execute("BEGIN")
                        } catch {
                            sql.close()
                            sql = try PGConnection(dsn)
                            try sql.execute("BEGIN")
                        }
                        connection = sql
                        for _ in 0..<count {
                            sequence += 1
                            let payload = "\(writer)/\(sequence)"
                            payloads.append(payload)
                            try PGNotifications.notify(channel: "jobs", payload: payload, on: sql)
                        }
                        if sequence % 7 == 0 {
                            try PGNotifications.notify(
                                channel: "other", payload: "other \(writer)/\(sequence)", on: sql)
                        }
                        try sql.execute(rollback ? "ROLLBACK" : "COMMIT")
                        progress.withLock { state in
                            state.sent += count
                            if rollback { state.rolledBack += payloads } else { state.committed += payloads }
                        }
                    } catch {
                        connection?.close()
                        connection = nil
                        progress.withLock { $0.failure = $0.failure ?? "writer \(writer): \(error)" }
                    }
                    usleep(500)
                }
                connection?.close()
                progress.withLock { $0.writersDone += 1 }
                progress.broadcast()
            }
        }
        for writer in writers { writer.start() }
        func reach(_ sent: Int) -> Bool {
            eventually(seconds: 120) { progress.withLock { $0.sent >= sent || $0.failure != nil } }
        }

        #expect(reach(2500))
        try cluster.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name <> 'walreceiver'")
        #expect(reach(5000))
        progress.withLock { $0.paused = true }
        progress.withLock(when: { $0.inFlight == 0 }) { _, _ in }
        try cluster.restart()
        progress.withLock { $0.paused = false }
        progress.broadcast()
        #expect(reach(7500))
        process.signal(SIGKILL)
        _ = try? process.finish(within: 30)
        process = try receiver(2)
        #expect(reach(total))
        // Every writer's last transaction has ended, committed or rolled back, before the tally.
        progress.withLock(when: { $0.writersDone == writers.count }) { _, _ in }
        let state = progress.withLock { $0 }
        #expect(state.failure == nil, "\(state.failure ?? "")")
        #expect(state.sent >= total && !state.rolledBack.isEmpty)

        // Every committed notification, from both runs' lines.
        struct Line: Decodable {
            var channel: String
            var payload: String
            var lsn: String
            var xid: UInt32
            var commitLSN: String
            enum CodingKeys: String, CodingKey {
                case channel, payload, lsn, xid
                case commitLSN = "commit_lsn"
            }
        }
        func lines(_ run: Int) -> [Line] {
            readTextFile("\(folder)/run\(run).jsonl").split(separator: "\n").compactMap {
                try? JSONDecoder().decode(Line.self, from: Data($0.utf8))
            }
        }
        let expected = Set(state.committed)
        #expect(
            eventually(seconds: 120) { Set((lines(1) + lines(2)).map(\.payload)).isSuperset(of: expected) },
            "missing \(expected.subtracting((lines(1) + lines(2)).map(\.payload)).count) notifications: \(process.stderr)"
        )
        process.signal(SIGTERM)
        _ = try process.finish(within: 30)

        let runs = [lines(1), lines(2)]
        var seen: [String: String] = [:]  // lsn → payload
        var order: [String] = []
        for run in runs {
            // A run's lines come in commit order.
            let commits = run.compactMap { try? LSN($0.commitLSN) }
            #expect(commits == commits.sorted(), "a run's lines are not in commit order")
            for line in run {
                #expect(line.channel == "jobs")
                if let payload = seen[line.lsn] {
                    #expect(payload == line.payload, "one id, two payloads")
                    continue
                }
                seen[line.lsn] = line.payload
                order.append(line.payload)
            }
        }
        let missing = expected.subtracting(order)
        let extra = Set(order).subtracting(expected)
        #expect(missing.isEmpty, "\(missing.count) missing, such as \(missing.sorted().prefix(5))")
        #expect(extra.isEmpty, "\(extra.count) never committed, such as \(extra.sorted().prefix(5))")
        #expect(Set(order).isDisjoint(with: state.rolledBack))
        #expect(order.count == expected.count, "one notification under two ids")
        // Each session's notifications in its commit order.
        var last: [String: Int] = [:]
        for payload in order {
            let parts = payload.split(separator: "/")
            let (writer, sequence) = (String(parts[0]), Int(parts[1]) ?? 0)
            #expect((last[writer] ?? 0) < sequence, "\(payload) after \(writer)/\(last[writer] ?? 0)")
            last[writer] = sequence
        }
        // The kill repeated what the first run had not acknowledged, and nothing more than once
        // a run: a run holds each id once.
        for run in runs { #expect(Set(run.map(\.lsn)).count == run.count) }
    }

    /// The library's receiver: notifications sent in transactions (some rolled back) arrive in
    /// commit order through `notifications()`, across a killed connection; a second receiver on
    /// the same slot (a process restart) goes on after what the first acknowledged. The SQL forms
    /// (the function and the statement with parameters) send on the same channel.
    @Test func theAsyncSequenceResumesFromTheSlot() async throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        let dsn = cluster.dsn()
        let configuration = PGNotifications.Configuration(dsn: dsn, channels: ["a"], slot: "library_notes")
        let first = PGNotifications(configuration)
        // Run as a service: the stream starts and makes the slot; notifications sent from then on
        // are kept.
        let service = Task { try await first.run() }
        let sender = try PGConnection(dsn)
        defer { sender.close() }
        #expect(
            await eventuallyAsync {
                (try? cluster.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'library_notes'"))
                    == "1"
            })
        for index in 1...50 {
            try sender.execute("BEGIN")
            try PGNotifications.notify(channel: "a", payload: "\(index)", on: sender)
            try PGNotifications.notify(channel: "b", payload: "b\(index)", on: sender)
            try sender.execute(index % 5 == 0 ? "ROLLBACK" : "COMMIT")
            if index == 20 { try cluster.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication") }
        }
        // The SQL forms: the function for triggers, and the statement for drivers with parameters.
        try sender.execute(PGNotifications.functionDefinition)
        try sender.execute("SELECT pgrepl_notify('a', 'by function')")
        try sender.execute("PREPARE send(text, text) AS \(PGNotifications.sendStatement)")
        try sender.execute("EXECUTE send('a', 'by statement')")
        var received: [PGNotification] = []
        var iterator = first.notifications().makeAsyncIterator()
        received.append(try #require(try await iterator.next()))
        first.stop()
        _ = try? await service.value
        // The first receiver took one; the second gets the rest (and that one again: it was not
        // acknowledged, since no next one was asked for).
        let second = PGNotifications(configuration)
        var rest = second.notifications().makeAsyncIterator()
        while received.count < 43, let notification = try await rest.next() { received.append(notification) }
        second.stop()
        let payloads = received.map(\.payload)
        #expect(payloads.first == "1" && payloads.dropFirst().first == "1", "\(payloads)")
        let expected = (1...50).filter { $0 % 5 != 0 }.map(String.init) + ["by function", "by statement"]
        #expect(Array(payloads.dropFirst()) == expected)
        #expect(received.allSatisfy { $0.channel == "a" })
        #expect(Set(received.dropFirst().map(\.lsn)).count == expected.count)
    }
}

/// The options of the read-after-write gate, whole rows and notifications that do not go
/// together are refused before anything connects, each with one line.
@Suite struct ReadAfterWriteOptionTests {
    static let refused: [([String], String)] = [
        (["--format", "raw", "--when-visible"], "--when-visible needs --format json, debezium or text"),
        (["--visible-on", "host=standby"], "--visible-on needs --when-visible"),
        (["--format", "raw", "--fill-toast"], "--fill-toast needs --format json, debezium or text"),
        (["--fill-toast", "--streaming", "on"], "--fill-toast needs --streaming off"),
        (["--channel", "jobs"], "--channel needs --format notifications"),
    ]

    @Test(arguments: 0..<refused.count)
    func refusedCombinations(index: Int) throws {
        let (arguments, message) = Self.refused[index]
        expectFailure(
            try RunningProcess.pgrepl(
                ["stream", "--dsn", "host=/nonexistent", "--slot", "s", "--publication", "p"] + arguments
            ).finish(),
            status: 1, containing: [message])
    }
}

/// `eventually` for async tests.
func eventuallyAsync(seconds: Double = 30, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return await condition()
}
