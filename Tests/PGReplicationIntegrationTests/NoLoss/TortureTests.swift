import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The torture test: `pgrepl stream --output` and a ChangeStream consumer process, killed with
/// SIGKILL or SIGTERM 20 times at random points while concurrent sessions commit short and long
/// interleaved transactions (with savepoint rollbacks, updates and deletes), with streaming off
/// and then on, and a handler that sometimes sleeps past `wal_sender_timeout`. Every committed
/// transaction must end up in both outputs, checked against a reference slot copied at the start (see `Reference`).
@Suite(.serialized) struct TortureTests {
    static let kills = 20

    @Test(.timeLimit(.minutes(8)))
    func twentyKillsUnderInterleavedLoadLoseNothing() throws {
        let cluster = try LocalCluster.start(
            LocalCluster.Configuration(settings: [
                "max_wal_senders": "10", "max_replication_slots": "10", "wal_sender_timeout": "2s",
                "logical_decoding_work_mem": "64kB",
            ]))
        defer { cluster.destroy() }
        try cluster.psql(
            "CREATE TABLE tt (id bigint PRIMARY KEY, v text); CREATE SEQUENCE tt_ids; CREATE PUBLICATION tt_pub FOR TABLE tt"
        )
        // Each slot on its own: a logical slot cannot be created in a transaction that wrote.
        try cluster.psql("SELECT pg_create_logical_replication_slot('tt_cli', 'pgoutput')")
        try cluster.psql("SELECT pg_copy_logical_replication_slot('tt_cli', 'tt_cs')")
        try cluster.psql(Reference.copySlot("tt_cli", to: "tt_ref"))
        let dsn = cluster.dsn()
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let cliFile = folder + "/cli.jsonl"
        let consumerFile = folder + "/consumer.jsonl"

        let load = TortureLoad(dsn: dsn)
        load.start()
        defer { load.stop() }

        func cliArguments(streaming: Bool, end: LSN? = nil) -> [String] {
            [
                "stream", "--dsn", dsn, "--slot", "tt_cli", "--publication", "tt_pub", "--output", cliFile,
                "--status-interval", "1", "--streaming", streaming ? "on" : "off",
            ] + StreamJSON.traceOptions + (end.map { ["--end", $0.description] } ?? [])
        }
        func consumerArguments(streaming: Bool, end: LSN? = nil) -> [String] {
            // While it is being killed, every 40th transaction sleeps past wal_sender_timeout;
            // the last run drains at full speed.
            [dsn, "tt_cs", "tt_pub", consumerFile, "streaming=\(streaming ? "on" : "off")"]
                + (end.map { ["end=\($0)"] } ?? ["slow-every=40", "slow-seconds=2.5"])
        }
        let consumerBinary = try PGReplBinary.sibling("pgrepl-torture-consumer")
        var generator = SystemRandomNumberGenerator()
        var cli: RunningProcess?
        var consumer: RunningProcess?
        var signals: [Int32: Int] = [:]
        defer {
            cli?.signal(SIGKILL)
            consumer?.signal(SIGKILL)
        }
        for kill in 0..<Self.kills {
            let streaming = kill >= Self.kills / 2
            if cli.map({ !$0.isRunning }) ?? true {
                cli = try RunningProcess.pgrepl(cliArguments(streaming: streaming))
            }
            if consumer.map({ !$0.isRunning }) ?? true {
                consumer = try RunningProcess(consumerBinary, consumerArguments(streaming: streaming))
            }
            Thread.sleep(forTimeInterval: Double.random(in: 0.4...2.5, using: &generator))
            let signal = Bool.random(using: &generator) ? SIGKILL : SIGTERM
            signals[signal, default: 0] += 1
            let target = kill % 2 == 0 ? cli : consumer
            target?.signal(signal)
            let result = try target?.finish(within: 30)
            if signal == SIGTERM, let result {
                // A clean stop: pgrepl says so with 130 (its documented status for a signal).
                #expect([0, 130].contains(result.status), "\(target?.name ?? ""): \(result)")
            }
        }
        cli?.signal(SIGTERM)
        consumer?.signal(SIGTERM)
        _ = try cli?.finish(within: 30)
        _ = try consumer?.finish(within: 30)
        load.stop()
        let end = try LSN(try cluster.psql("SELECT pg_current_wal_lsn()"))
        try cluster.psql("INSERT INTO tt VALUES (-1, 'end')")
        // Both run to the end; the slots are released by now or soon.
        let lastCLI = try RunningProcess.pgrepl(cliArguments(streaming: true, end: end)).finish(within: 180)
        #expect(lastCLI.status == 0, "\(lastCLI)")
        let lastConsumer = try RunningProcess(consumerBinary, consumerArguments(streaming: true, end: end))
            .finish(within: 180)
        #expect(lastConsumer.status == 0, "\(lastConsumer)")

        let reference = try Reference.read(slot: "tt_ref", tables: ["tt"], publication: "tt_pub", dsn: dsn)
            .filter { $0.endLSN <= end }
        let expected = Dictionary(
            reference.map { ($0.xid, TortureSignature($0)) }, uniquingKeysWith: { first, _ in first })
        let fromCLI = try StreamJSON.transactions(readTextFile(cliFile)).map { ($0.xid, TortureSignature($0)) }
        let fromConsumer = try TortureSignature.read(readTextFile(consumerFile))
        var figures: [String] = []
        for (name, delivered) in [("pgrepl stream", fromCLI), ("ChangeStream consumer", fromConsumer)] {
            let byXID = Dictionary(grouping: delivered, by: \.0)
            let lost = expected.filter { xid, signature in !(byXID[xid] ?? []).contains { $0.1 == signature } }
            let different = delivered.filter { xid, signature in expected[xid].map { $0 != signature } ?? false }
            let repeated = byXID.values.filter { $0.count > 1 }.count
            #expect(
                lost.isEmpty, "\(name): \(lost.count) committed transactions lost, first xid \(lost.first?.key ?? 0)")
            #expect(different.isEmpty, "\(name): \(different.count) transactions differ from the reference")
            figures.append("\(name): lost \(lost.count), repeated \(repeated)")
        }
        #expect(load.committed > 200)
        #expect(load.longTransactions >= 5)
        #expect(load.failures.isEmpty, "the load's writes failed: \(load.failures.prefix(3))")

        // An oracle that shares no code with the stream, on every lane (on 16 the reference
        // above is this package's own decoder): each output, replayed, is the table.
        let table = try Mirror.select(
            queries: ["tt": "SELECT * FROM tt WHERE id <> -1"], keys: ["tt": ["id"]], dsn: dsn)
        var mirror = Mirror()
        for transaction in try StreamJSON.transactions(readTextFile(cliFile)) {
            mirror.apply(transaction, keys: ["tt": ["id"]])
        }
        mirror.tables["tt"]?["-1"] = nil
        #expect(mirror.difference(from: table) == nil, "pgrepl stream: \(mirror.difference(from: table) ?? "")")
        var ids = Set<String>()
        for (_, signature) in fromConsumer {
            for op in signature.ops {
                switch op.first {
                case "I": ids.insert(String(op.dropFirst()))
                case "D": ids.remove(String(op.dropFirst()))
                default: break
                }
            }
        }
        ids.remove("-1")
        let tableIDs = Set(table.tables["tt"]?.keys.map { $0 } ?? [])
        #expect(
            ids == tableIDs,
            "ChangeStream consumer: \(tableIDs.subtracting(ids).count) rows missing, \(ids.subtracting(tableIDs).count) extra"
        )
        // Large transactions were streamed in progress to both, as the load means them to be.
        let streamed = try cluster.psql(
            "SELECT string_agg(slot_name || '=' || stream_txns, ',' ORDER BY slot_name) FROM pg_stat_replication_slots"
                + " WHERE slot_name IN ('tt_cli', 'tt_cs')")
        let counts = streamed.split(separator: ",").compactMap { Int($0.split(separator: "=").last ?? "") }
        #expect(counts.count == 2 && counts.allSatisfy { $0 > 0 }, "streamed transactions per slot: \(streamed)")
        print(
            "torture: \(Self.kills) kills (SIGKILL \(signals[SIGKILL] ?? 0), SIGTERM \(signals[SIGTERM] ?? 0)), "
                + "\(reference.count) committed transactions (\(load.longTransactions) long, "
                + "\(load.rolledBackSavepoints) savepoint rollbacks), " + figures.joined(separator: "; "))
    }
}

extension PGReplBinary {
    /// An executable built next to `pgrepl`.
    static func sibling(_ name: String) throws -> URL {
        try url().deletingLastPathComponent().appendingPathComponent(name)
    }
}

/// A transaction as its ordered operations: action and row id (`I17`, `U17`, `D17`).
struct TortureSignature: Hashable {
    var ops: [String]

    init(_ transaction: ComparableTransaction) {
        ops = transaction.changes.map { change in
            let id = change.values["id"].map { "\($0)" } ?? "?"
            return "\(change.action)\(id)"
        }
    }

    init(ops: [String]) { self.ops = ops }

    /// The consumer's lines: `{"xid":…,"end":"…","ops":[…]}`.
    static func read(_ text: String) throws -> [(UInt32, TortureSignature)] {
        try text.split(separator: "\n").map { line in
            guard case .object(let object) = try RawJSON.parse(String(line)), case .number(let xid)? = object["xid"],
                case .array(let ops)? = object["ops"]
            else { throw CLITestError("unreadable consumer line: \(line)") }
            return (
                UInt32(xid) ?? 0,
                TortureSignature(ops: ops.compactMap { if case .string(let op) = $0 { return op } else { return nil } })
            )
        }
    }
}

/// The load: short transactions (1 to 3 rows, some updates and deletes), long ones that stay open
/// for a second or more while short ones commit (some large enough to be streamed with
/// `logical_decoding_work_mem = 64kB`), and savepoints rolled back, on three sessions.
final class TortureLoad: Sendable {
    private let dsn: String
    private let running = Atomic<Bool>(false)
    private let commits = Atomic<Int>(0)
    private let longs = Atomic<Int>(0)
    private let rollbacks = Atomic<Int>(0)
    private let threads = Atomic<Int>(0)
    private let errors = Locked<[String]>([])

    init(dsn: String) { self.dsn = dsn }

    var committed: Int { commits.load(ordering: .relaxed) }
    var longTransactions: Int { longs.load(ordering: .relaxed) }
    var rolledBackSavepoints: Int { rollbacks.load(ordering: .relaxed) }
    /// The writes the server refused.
    var failures: [String] { errors.withLock { $0 } }

    func start() {
        running.store(true, ordering: .relaxed)
        for session in 0..<3 {
            threads.add(1, ordering: .relaxed)
            Thread { [self] in
                defer { threads.subtract(1, ordering: .relaxed) }
                var generator = SystemRandomNumberGenerator()
                var connection: PGConnection?
                while running.load(ordering: .relaxed) {
                    do {
                        if connection == nil { connection = try PGConnection(dsn) }
                        guard let sql = connection else { continue }
                        if session == 0 {
                            try long(sql, &generator)
                        } else {
                            try short(sql, &generator)
                        }
                    } catch {
                        // Only clients are killed here: a write the server refuses is a failure.
                        errors.withLock { $0.append("\(error)") }
                        connection?.close()
                        connection = nil
                        Thread.sleep(forTimeInterval: 0.05)
                    }
                }
                connection?.close()
            }.start()
        }
    }

    func stop() {
        running.store(false, ordering: .relaxed)
        while threads.load(ordering: .relaxed) > 0 { Thread.sleep(forTimeInterval: 0.01) }
    }

    private func short(_ sql: PGConnection, _ generator: inout SystemRandomNumberGenerator) throws {
        let rows = Int.random(in: 1...3, using: &generator)
        try sql.execute("BEGIN")
        try sql.execute("INSERT INTO tt SELECT nextval('tt_ids'), 's' FROM generate_series(1, \(rows))")
        switch Int.random(in: 0..<10, using: &generator) {
        case 0: try sql.execute("UPDATE tt SET v = 'u' WHERE id = (SELECT max(id) - 5 FROM tt WHERE id > 0)")
        case 1: try sql.execute("DELETE FROM tt WHERE id = (SELECT max(id) - 7 FROM tt WHERE id > 0)")
        case 2:
            try sql.execute("SAVEPOINT s; INSERT INTO tt SELECT nextval('tt_ids'), 'gone'; ROLLBACK TO SAVEPOINT s")
            rollbacks.add(1, ordering: .relaxed)
        default: break
        }
        try sql.execute("COMMIT")
        commits.add(1, ordering: .relaxed)
        Thread.sleep(forTimeInterval: 0.004)
    }

    private func long(_ sql: PGConnection, _ generator: inout SystemRandomNumberGenerator) throws {
        try sql.execute("BEGIN")
        let steps = Int.random(in: 5...15, using: &generator)
        for step in 0..<steps {
            guard running.load(ordering: .relaxed) else { break }
            // Every fourth long transaction is large: with 64kB of decoding memory it is streamed.
            let rows = longs.load(ordering: .relaxed) % 4 == 0 ? 800 : 20
            try sql.execute("INSERT INTO tt SELECT nextval('tt_ids'), 'l' FROM generate_series(1, \(rows))")
            if step % 3 == 1 {
                try sql.execute(
                    "SAVEPOINT s; INSERT INTO tt SELECT nextval('tt_ids'), 'gone' FROM generate_series(1, 30);"
                        + " ROLLBACK TO SAVEPOINT s")
                rollbacks.add(1, ordering: .relaxed)
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        try sql.execute("COMMIT")
        commits.add(1, ordering: .relaxed)
        longs.add(1, ordering: .relaxed)
    }
}
