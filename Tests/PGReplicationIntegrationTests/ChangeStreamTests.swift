import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Synchronization
import Testing

/// A deterministic random workload over three tables of mixed types.
struct Workload {
    var random: SeededRandom
    let tables: (t1: String, t2: String, t3: String)

    /// `batches` batches of 100 transactions, with a transaction of 3000 rows in the middle of
    /// every `giantEvery` batches, then the row `end` in `markerTable`.
    mutating func write(batches: Int, giantEvery: Int, markerTable: String) throws {
        let writer = try PGConnection(TestServer.dsn())
        defer { writer.close() }
        var nextT3 = 0
        for batch in 0..<batches {
            try writer.execute(transactions(100, nextT3: &nextT3))
            if batch % giantEvery == giantEvery / 2 { try writer.execute(giant(rows: 3000)) }
        }
        try writer.execute("INSERT INTO \(markerTable) (v) VALUES ('end')")
    }

    static func makeTables(prefix: String) throws -> (String, String, String) {
        let t1 = "\(prefix)_a"
        let t2 = "\(prefix)_b"
        let t3 = "\(prefix)_c"
        try TestServer.sql(
            """
            CREATE TABLE \(t1) (id serial PRIMARY KEY, a int, b text, c numeric(12,3), d timestamptz, e bool, f jsonb, g text[]);
            CREATE TABLE \(t2) (id bigserial PRIMARY KEY, name text, qty int, price float8);
            CREATE TABLE \(t3) (id int PRIMARY KEY, payload text, updated timestamptz);
            ALTER TABLE \(t3) REPLICA IDENTITY FULL;
            """)
        return (t1, t2, t3)
    }

    mutating func word() -> String {
        let words = ["alpha", "béta", "gamma", "dëlta", "it's", "ж", "🐘", "back\\slash", "quote\"d", ""]
        return words[random.next(words.count)]
    }

    func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    mutating func operation(_ nextT3: inout Int) -> String {
        let (t1, t2, t3) = tables
        switch random.next(9) {
        case 0, 1:
            let numeric = "\(random.next(2_000_000) - 1_000_000).\(random.next(1000))"
            let array = "ARRAY[\(literal(word())), NULL, \(literal(word()))]"
            return "INSERT INTO \(t1) (a, b, c, d, e, f, g) VALUES (\(random.next(1000) - 500), \(literal(word())), "
                + "\(numeric), now() - interval '\(random.next(100000)) seconds', \(random.next(2) == 0), "
                + "jsonb_build_object('k', \(random.next(100)), 'w', \(literal(word()))), \(array))"
        case 2:
            return
                "INSERT INTO \(t2) (name, qty, price) VALUES (\(literal(word())), \(random.next(100)), \(Double(random.next(100000)) / 7))"
        case 3:
            nextT3 += 1
            return "INSERT INTO \(t3) VALUES (\(nextT3), \(literal(word())), now())"
        case 4:
            return
                "UPDATE \(t1) SET b = \(literal(word())), e = NOT e, c = c + 1.5 WHERE id = (SELECT max(id) - \(random.next(5)) FROM \(t1))"
        case 5:
            return "UPDATE \(t2) SET qty = qty + 1, price = price * 2 WHERE id = (SELECT max(id) FROM \(t2))"
        case 6:
            return "UPDATE \(t3) SET payload = \(literal(word())) WHERE id = \(max(1, nextT3 - random.next(3)))"
        case 7:
            return "DELETE FROM \(t1) WHERE id = (SELECT min(id) FROM \(t1))"
        default:
            return "DELETE FROM \(t3) WHERE id = \(max(1, nextT3 - random.next(10)))"
        }
    }

    /// SQL for `count` transactions: commits, rollbacks, savepoints rolled back, a few truncates.
    mutating func transactions(_ count: Int, nextT3: inout Int) -> String {
        var sql = ""
        for index in 0..<count {
            var body: [String] = []
            for _ in 0...random.next(3) { body.append(operation(&nextT3)) }
            if random.next(10) == 0 {
                body.insert("SAVEPOINT s", at: 1)
                body.append(operation(&nextT3))
                body.append("ROLLBACK TO SAVEPOINT s")
                body.append(operation(&nextT3))
            }
            if index % 2500 == 1234 { body.append("TRUNCATE \(tables.t2)") }
            let end = random.next(20) == 0 ? "ROLLBACK" : "COMMIT"
            sql += "BEGIN; " + body.joined(separator: "; ") + "; \(end);\n"
        }
        return sql
    }

    /// A transaction large enough to be streamed (with 64 kB of decoding memory), with a rolled
    /// back subtransaction inside.
    func giant(rows: Int) -> String {
        """
        BEGIN;
        INSERT INTO \(tables.t2) (name, qty, price) SELECT 'giant ' || g, g, g / 3.0 FROM generate_series(1, \(rows)) g;
        SAVEPOINT inner_one;
        INSERT INTO \(tables.t2) (name, qty, price) SELECT 'rolled back ' || g, g, 0 FROM generate_series(1, \(rows / 2)) g;
        ROLLBACK TO SAVEPOINT inner_one;
        UPDATE \(tables.t1) SET a = a + 1 WHERE id IN (SELECT id FROM \(tables.t1) ORDER BY id LIMIT 50);
        COMMIT;
        """
    }
}

/// SplitMix64: the same workload every run.
struct SeededRandom {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int(z % UInt64(max(1, bound)))
    }
}

/// Collects transactions from a change stream on a thread of its own until a marker row shows up.
func collect(
    _ stream: ChangeStream, until marker: @escaping @Sendable (PGTransaction) throws -> Bool, seconds: Double = 120
) throws -> [PGTransaction] {
    let box = Locked<[PGTransaction]>([])
    let failure = Locked<(any Error)?>(nil)
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        do {
            try stream.consume { event in
                guard case .transaction(let transaction) = event else { return }
                box.withLock { $0.append(transaction) }
                if try marker(transaction) { stream.stop() }
            }
        } catch {
            failure.withLock { $0 = error }
        }
        done.signal()
    }
    thread.start()
    if done.wait(timeout: .now() + seconds) == .timedOut {
        stream.stop()
        _ = done.wait(timeout: .now() + 10)
        throw TestSetupError("the change stream did not reach the marker in \(seconds) s")
    }
    if let error = failure.withLock({ $0 }) { throw error }
    return box.withLock { $0 }
}

func isMarker(_ table: String) -> @Sendable (PGTransaction) -> Bool {
    { transaction in transaction.changes.contains { $0.table?.name == table } }
}

@Suite(.serialized) struct ChangeStreamTests {
    @Test(.requires(.wal2json)) func randomWorkloadMatchesWal2JSONInTextAndBinary() throws {
        let prefix = TestServer.uniqueName("cs")
        let (t1, t2, t3) = try Workload.makeTables(prefix: prefix)
        let markerTable = try TestServer.makeTable("marker")
        let publication = "\(prefix)_pub"
        try TestServer.sql("CREATE PUBLICATION \(publication) FOR TABLE \(t1), \(t2), \(t3), \(markerTable)")
        let slots = ["\(prefix)_w2j", "\(prefix)_text", "\(prefix)_bin"]
        defer {
            slots.forEach(TestServer.dropSlot)
            TestServer.dropQuietly("DROP PUBLICATION \(publication); DROP TABLE \(t1), \(t2), \(t3), \(markerTable)")
        }
        try TestServer.sql("SELECT pg_create_logical_replication_slot('\(slots[0])', 'wal2json')")
        try TestServer.sql("SELECT pg_create_logical_replication_slot('\(slots[1])', 'pgoutput')")
        try TestServer.sql("SELECT pg_create_logical_replication_slot('\(slots[2])', 'pgoutput')")

        var workload = Workload(random: SeededRandom(state: 42), tables: (t1, t2, t3))
        try workload.write(batches: 100, giantEvery: 40, markerTable: markerTable)

        let expected = try Wal2JSON.read(slot: slots[0], tables: [t1, t2, t3, markerTable], dsn: TestServer.dsn())
        #expect(expected.count > 9000)

        for (slot, binary) in [(slots[1], false), (slots[2], true)] {
            var configuration = ChangeStream.Configuration(
                dsn: try TestServer.dsn("options='-c logical_decoding_work_mem=64kB'"), slot: slot,
                publications: [publication])
            configuration.binary = binary
            configuration.streaming = .on
            configuration.reconnect = .never
            let stream = ChangeStream(configuration)
            let transactions = try collect(stream, until: isMarker(markerTable))
            #expect(transactions.contains { $0.isStreamed }, "no transaction was streamed")
            let actual = transactions.map(ComparableTransaction.init).filter { !$0.changes.isEmpty }
            #expect(actual.count == expected.count)
            for (index, (ours, theirs)) in zip(actual, expected).enumerated() {
                guard ours.changes == theirs.changes else {
                    let first = zip(ours.changes, theirs.changes).first { $0 != $1 }
                    Issue.record(
                        "binary \(binary): transaction \(index) (xid \(ours.xid)/\(theirs.xid)) differs: \(ours.changes.count) vs \(theirs.changes.count) changes; first difference:\n  ours:   \(first?.0.description ?? "-")\n  theirs: \(first?.1.description ?? "-")"
                    )
                    break
                }
            }
            #expect(stream.metrics.transactions == transactions.count)
        }
    }

    /// The same workload on every server version, with the oracle every version has: the stream,
    /// replayed into a mirror keyed by primary key, equals the tables read with `SELECT`.
    @Test func randomWorkloadReplayedIntoAMirrorEqualsTheTablesInTextAndBinary() throws {
        let prefix = TestServer.uniqueName("mir")
        let (t1, t2, t3) = try Workload.makeTables(prefix: prefix)
        let markerTable = try TestServer.makeTable("marker")
        let publication = "\(prefix)_pub"
        try TestServer.sql("CREATE PUBLICATION \(publication) FOR TABLE \(t1), \(t2), \(t3), \(markerTable)")
        let slots = ["\(prefix)_text", "\(prefix)_bin"]
        defer {
            slots.forEach(TestServer.dropSlot)
            TestServer.dropQuietly("DROP PUBLICATION \(publication); DROP TABLE \(t1), \(t2), \(t3), \(markerTable)")
        }
        for slot in slots { try TestServer.sql("SELECT pg_create_logical_replication_slot('\(slot)', 'pgoutput')") }
        var workload = Workload(random: SeededRandom(state: 7), tables: (t1, t2, t3))
        try workload.write(batches: 60, giantEvery: 30, markerTable: markerTable)
        let tables = [t1, t2, t3]
        let keys = Dictionary(uniqueKeysWithValues: tables.map { ($0, ["id"]) })
        let expected = try Mirror.select(tables, keys: keys, dsn: TestServer.dsn())
        #expect((expected.tables[t1]?.count ?? 0) > 100)
        for (slot, binary) in [(slots[0], false), (slots[1], true)] {
            var configuration = ChangeStream.Configuration(
                dsn: try TestServer.dsn("options='-c logical_decoding_work_mem=64kB'"), slot: slot,
                publications: [publication])
            configuration.binary = binary
            configuration.streaming = ServerFeatures.current.majorVersion >= 16 ? .parallel : .on
            configuration.reconnect = .never
            let transactions = try collect(ChangeStream(configuration), until: isMarker(markerTable))
            #expect(transactions.contains { $0.isStreamed }, "no transaction was streamed")
            var mirror = Mirror()
            for transaction in transactions { mirror.apply(ComparableTransaction(transaction), keys: keys) }
            mirror.tables[markerTable] = nil
            let difference = mirror.difference(from: expected)
            #expect(difference == nil, "binary \(binary): \(difference ?? "")")
        }
    }

    @Test func aHandlerSleepingTwiceTheSenderTimeoutKeepsItsConnection() throws {
        let fixture = try StreamFixture()
        var configuration = fixture.configuration(dsnExtra: "options='-c wal_sender_timeout=2s'")
        configuration.reconnect = .never
        let stream = ChangeStream(configuration)
        try fixture.insert(2)
        let slept = Atomic<Bool>(false)
        let transactions = try collect(
            stream,
            until: { transaction in
                if !slept.exchange(true, ordering: .relaxed) {
                    Thread.sleep(forTimeInterval: 4.5)
                    try fixture.insert(1, value: "after")
                }
                return try transaction.changes.contains { change in
                    if case .insert(_, let new) = change { return try new["v", as: String.self] == "after" }
                    return false
                }
            })
        #expect(transactions.count == 2)
        #expect(stream.metrics.reconnects == 0)
        // The handled transactions were acknowledged.
        #expect(try TestServer.confirmedFlush(fixture.slot) >= transactions[0].endLSN)
    }

    @Test func initialSnapshotThenStreamEqualsTheFinalTable() throws {
        let table = TestServer.uniqueName("snap")
        let publication = "\(table)_pub"
        let slot = "\(table)_slot"
        try TestServer.sql(
            """
            CREATE TABLE \(table) (id int PRIMARY KEY, v text, n numeric);
            INSERT INTO \(table) SELECT g, 'row ' || g, g * 1.5 FROM generate_series(1, 5000) g;
            """)
        defer {
            TestServer.dropSlot(slot)
            TestServer.dropQuietly("DROP PUBLICATION IF EXISTS \(publication); DROP TABLE IF EXISTS \(table)")
        }
        // Concurrent writes while the slot is created and the snapshot copied; a refused write
        // fails the test (`stop()`), so the table cannot silently equal the snapshot.
        let dsn = try TestServer.dsn()
        let next = Atomic<Int>(5001)
        var random = SeededRandom(state: 7)
        let choices = (0..<100_000).map { _ in (random.next(3), random.next(5000) + 1) }
        let writer = ConcurrentWriter(dsn: dsn, pause: 500) { writer, round in
            let (kind, id) = choices[round % choices.count]
            switch kind {
            case 0:
                let new = next.add(1, ordering: .relaxed).oldValue
                try writer.execute("INSERT INTO \(table) VALUES (\(new), 'new', \(new))")
            case 1: try writer.execute("UPDATE \(table) SET v = v || '+', n = n + 1 WHERE id = \(id)")
            default: try writer.execute("DELETE FROM \(table) WHERE id = \(id)")
            }
        }
        Thread.sleep(forTimeInterval: 0.2)

        var configuration = ChangeStream.Configuration(dsn: dsn, slot: slot, publications: [publication])
        configuration.createSlot = true
        configuration.createPublication = .tables([table])
        configuration.initialSnapshot = true
        configuration.snapshotBatchSize = 700
        configuration.reconnect = .never
        let stream = ChangeStream(configuration)
        let rows = Locked<[Int: String]>([:])
        let snapshotRows = Atomic<Int>(0)
        // Writer rounds accepted when the copy's first and last batches arrived.
        let copyRounds = Locked<(first: Int?, last: Int?)>((nil, nil))
        let done = DispatchSemaphore(value: 0)
        let failure = Locked<(any Error)?>(nil)
        Thread {
            do {
                try stream.consume { event in
                    switch event {
                    case .snapshot(let batch):
                        snapshotRows.add(batch.rows.count, ordering: .relaxed)
                        copyRounds.withLock { rounds in
                            rounds.first = rounds.first ?? writer.rounds
                            if batch.isLast { rounds.last = writer.rounds }
                        }
                        // A slow consumer: the writer goes on while the copy runs.
                        Thread.sleep(forTimeInterval: 0.02)
                        for row in batch.rows {
                            let id = try row["id", as: Int.self]
                            let text = "\(try row["v", as: String.self])|\(try row["n", as: PGNumeric.self])"
                            rows.withLock { $0[id] = text }
                        }
                    case .transaction(let transaction):
                        for change in transaction.changes {
                            switch change {
                            case .insert(_, let new), .update(_, _, _, let new):
                                let id = try new["id", as: Int.self]
                                let text = "\(try new["v", as: String.self])|\(try new["n", as: PGNumeric.self])"
                                rows.withLock { $0[id] = text }
                                if id == -1 { stream.stop() }
                            case .delete(_, let old, _):
                                let id = try old["id", as: Int.self]
                                _ = rows.withLock { $0.removeValue(forKey: id) }
                            default: break
                            }
                        }
                    default: break
                    }
                }
            } catch {
                failure.withLock { $0 = error }
            }
            done.signal()
        }.start()
        Thread.sleep(forTimeInterval: 2)
        writer.stop()
        try TestServer.sql("INSERT INTO \(table) VALUES (-1, 'marker', 0)")
        #expect(done.wait(timeout: .now() + 60) == .success)
        if let error = failure.withLock({ $0 }) { throw error }
        #expect(snapshotRows.load(ordering: .relaxed) >= 4000)
        let (first, last) = copyRounds.withLock { $0 }
        #expect((last ?? 0) > (first ?? .max), "no write landed while the snapshot was copied: \(copyRounds)")
        let final = try TestServer.sql("SELECT id, v || '|' || n FROM \(table)").rows
        var expected: [Int: String] = [:]
        for row in final {
            if let id = row[0].flatMap({ Int($0) }) { expected[id] = row[1] ?? "" }
        }
        let actual = rows.withLock { $0 }
        #expect(actual.count == expected.count)
        #expect(actual == expected)
    }

    @Test func asyncSequenceDeliversAndAcknowledgesAfterTheLoopBody() async throws {
        let fixture = try StreamFixture()
        var configuration = fixture.configuration()
        configuration.reconnect = .never
        configuration.statusInterval = .seconds(1)
        let stream = ChangeStream(configuration)
        try fixture.insert(3)
        try fixture.insert(1)
        var seen: [PGTransaction] = []
        for try await event in stream.events() {
            guard case .transaction(let transaction) = event else { continue }
            seen.append(transaction)
            if seen.count == 1 {
                // Not acknowledged while the body runs.
                try await Task.sleep(for: .milliseconds(1500))
                #expect(try TestServer.confirmedFlush(fixture.slot) < transaction.endLSN)
            }
            if seen.count == 2 { break }
        }
        #expect(seen.map(\.changes.count) == [3, 1])
        // The first was acknowledged when the loop asked for the second.
        try await Task.sleep(for: .milliseconds(1500))
        #expect(try TestServer.confirmedFlush(fixture.slot) >= seen[0].endLSN)
        #expect(stream.metrics.isConnected == false)
    }

    @Test func chunkedDeliveryKeepsNoTransactionWhole() throws {
        let fixture = try StreamFixture()
        var configuration = fixture.configuration(dsnExtra: "options='-c logical_decoding_work_mem=64kB'")
        configuration.delivery = .chunked(batchSize: 100)
        configuration.streaming = .on
        configuration.reconnect = .never
        let stream = ChangeStream(configuration)
        try fixture.insert(5000)
        try fixture.insert(1, value: "end")
        var batches = 0
        var largest = 0
        var commits = 0
        try stream.consume { event in
            switch event {
            case .changes(let batch):
                batches += 1
                largest = max(largest, batch.changes.count)
                if try batch.changes.contains(where: { change in
                    if case .insert(_, let new) = change { return try new["v", as: String.self] == "end" }
                    return false
                }) {
                    stream.stop()
                }
            case .commit: commits += 1
            default: break
            }
        }
        #expect(batches >= 50)
        #expect(largest <= 100)
        #expect(commits >= 1)
    }

    /// With the default 10 s status interval, an acknowledged transaction reaches the slot's
    /// `confirmed_flush_lsn` within milliseconds, not on the next timed status update.
    @Test func acknowledgementsReachTheSlotPromptly() throws {
        let fixture = try StreamFixture()
        var configuration = fixture.configuration()
        configuration.reconnect = .never
        let stream = ChangeStream(configuration)
        let handled = Mutex<LSN?>(nil)
        let done = DispatchSemaphore(value: 0)
        // The run's error, if any, is reported by the checks of `handled` (nothing would be).
        let thread = Thread {
            try? stream.consume { event in
                if case .transaction(let transaction) = event { handled.withLock { $0 = transaction.endLSN } }
            }
            done.signal()
        }
        thread.start()
        defer {
            stream.stop()
            _ = done.wait(timeout: .now() + 10)
        }
        for round in 0..<3 {
            handled.withLock { $0 = nil }
            try fixture.insert(1, value: "round \(round)")
            let deadline = Date().addingTimeInterval(20)
            var endLSN: LSN?
            while endLSN == nil, Date() < deadline {
                endLSN = handled.withLock { $0 }
                usleep(1_000)
            }
            let lsn = try #require(endLSN)
            let handledAt = Date()
            while try TestServer.confirmedFlush(fixture.slot) < lsn, Date().timeIntervalSince(handledAt) < 5 {
                usleep(2_000)
            }
            #expect(Date().timeIntervalSince(handledAt) < 1, "round \(round)")
        }
    }

    /// The same for the async front end: the acknowledgement made when the loop asks for the next
    /// event wakes the I/O thread waiting for the server, which reports it.
    @Test func asyncAcknowledgementsReachTheSlotPromptly() async throws {
        let fixture = try StreamFixture()
        var configuration = fixture.configuration()
        configuration.reconnect = .never
        let stream = ChangeStream(configuration)
        let handled = Mutex<LSN?>(nil)
        let checker = Task.detached { () throws -> Double in
            while handled.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(1)) }
            let lsn = handled.withLock { $0 } ?? 0
            // Let the loop ask for the next event (which acknowledges) and wait in `next()`.
            try await Task.sleep(for: .milliseconds(50))
            let start = Date()
            while try TestServer.confirmedFlush(fixture.slot) < lsn, Date().timeIntervalSince(start) < 5 {
                try await Task.sleep(for: .milliseconds(2))
            }
            let elapsed = Date().timeIntervalSince(start)
            try fixture.insert(1, value: "end")
            return elapsed
        }
        try fixture.insert(1)
        var transactions = 0
        for try await event in stream.events() {
            guard case .transaction(let transaction) = event else { continue }
            transactions += 1
            if transactions == 1 { handled.withLock { $0 = transaction.endLSN } }
            if transactions == 2 { break }
        }
        #expect(try await checker.value < 1)
    }

    @Test func missingSlotIsItsOwnError() throws {
        var configuration = ChangeStream.Configuration(
            dsn: try TestServer.dsn(), slot: "no_such_slot_anywhere", publications: ["p"])
        configuration.reconnect = ChangeStream.ReconnectPolicy(maxAttempts: 2, initialDelay: .seconds(0.05))
        let error = try #require(throws: ChangeStreamError.self) { try ChangeStream(configuration).consume { _ in } }
        #expect(error.kind == .slotMissing, "\(error)")
    }

    @Test func handlerErrorsPropagateUnchangedAndAreNotAcknowledged() throws {
        struct Boom: Error {}
        let fixture = try StreamFixture()
        var configuration = fixture.configuration()
        configuration.reconnect = .never
        try fixture.insert(1)
        let before = try TestServer.confirmedFlush(fixture.slot)
        #expect(throws: Boom.self) { try ChangeStream(configuration).consume { _ in throw Boom() } }
        #expect(try TestServer.confirmedFlush(fixture.slot) == before)
    }
}

/// A table, a publication and a pgoutput slot for one test.
final class StreamFixture: Sendable {
    let table: String
    let publication: String
    let slot: String

    init() throws {
        table = try TestServer.makeTable("cs")
        publication = "\(table)_pub"
        slot = "\(table)_slot"
        try TestServer.sql("CREATE PUBLICATION \(publication) FOR TABLE \(table)")
        try TestServer.sql("SELECT pg_create_logical_replication_slot('\(slot)', 'pgoutput')")
    }

    func configuration(dsnExtra: String = "") -> ChangeStream.Configuration {
        // No DSN is an empty one, which the stream refuses at once: the test using it fails.
        ChangeStream.Configuration(dsn: (try? TestServer.dsn(dsnExtra)) ?? "", slot: slot, publications: [publication])
    }

    func insert(_ count: Int, value: String = "x") throws {
        try TestServer.sql("INSERT INTO \(table) (v) SELECT '\(value)' FROM generate_series(1, \(count))")
    }

    deinit {
        TestServer.dropSlot(slot)
        TestServer.dropQuietly("DROP PUBLICATION IF EXISTS \(publication); DROP TABLE IF EXISTS \(table)")
    }
}
