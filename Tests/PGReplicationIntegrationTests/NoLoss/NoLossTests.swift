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

/// The findings of the reliability read, each against a real server on a private cluster: what
/// the first release acknowledged without handling, skipped silently, or could not stop.
@Suite(.serialized) struct NoLossTests {
    // MARK: - The forwarding fence

    /// T3 begins, T1 and T2 commit, then T3 touches a million rows of an unpublished table and
    /// commits. The consumer acknowledges T1, then takes seconds to handle T2. Meanwhile the
    /// walsender replays T3: its first change carries an LSN below T1's end, then it skips the
    /// unpublished rows for seconds, sending keepalives (reply requested: `wal_sender_timeout` is
    /// 1 s) whose WAL end lies past T2's commit. The first release's keeper thread compared the
    /// confirmed T1 with the *last* dataStart (T3's first change) and moved flush past T2 while
    /// T2's handler was still running: a crash right then loses T2. Now nothing moves the slot
    /// past T2 before its handler returns.
    @Test func aKeepaliveWhileATransactionIsUnhandledDoesNotAcknowledgeIt() throws {
        let rig = try FaultRig(settings: ["wal_sender_timeout": "1s", "logical_decoding_work_mem": "64kB"])
        try rig.cluster.psql("CREATE TABLE noise (id int, pad text)")
        let t3 = try PGConnection(rig.dsn)
        defer { t3.close() }
        try t3.execute("BEGIN")
        try t3.execute("INSERT INTO ev VALUES (30, 'T3 first')")
        try rig.cluster.psql("INSERT INTO ev VALUES (1, 'T1')")
        try rig.cluster.psql("INSERT INTO ev VALUES (2, 'T2')")

        var configuration = rig.configuration()
        configuration.statusInterval = .seconds(10)
        let stream = ChangeStream(configuration)
        let violations = Locked<[String]>([])
        let sawKeepalivePastT2 = Atomic<Bool>(false)
        let t2Handled = Atomic<Bool>(false)
        let dsn = rig.dsn
        let done = DispatchSemaphore(value: 0)
        // Every poll of the slot must be read: a poll that fails would leave `violations` empty.
        let polls = Atomic<Int>(0)
        let failure = Locked<(any Error)?>(nil)
        Thread {
            defer { done.signal() }
            do {
                let watcher = try PGConnection(dsn)
                defer { watcher.close() }
                try stream.consume { event in
                    guard case .transaction(let transaction) = event else { return }
                    let values = try transaction.changes.compactMap { change -> String? in
                        if case .insert(_, let new) = change { return try new["v", as: String.self] }
                        return nil
                    }
                    guard values == ["T2"] else { return }
                    // Handling T2 takes seconds: watch the slot meanwhile.
                    let deadline = Date().addingTimeInterval(12)
                    var after: Date?
                    while Date() < deadline, after.map({ Date() < $0 }) ?? true {
                        let text = try watcher.execute(
                            "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'ev_slot'"
                        ).scalar
                        let confirmed = try LSN(text ?? "")
                        polls.add(1, ordering: .relaxed)
                        if confirmed >= transaction.endLSN {
                            violations.withLock { $0.append("slot at \(confirmed), T2 ends at \(transaction.endLSN)") }
                        }
                        if after == nil, stream.metrics.serverWALEnd > transaction.endLSN {
                            sawKeepalivePastT2.store(true, ordering: .relaxed)
                            after = Date().addingTimeInterval(2)
                        }
                        Thread.sleep(forTimeInterval: 0.1)
                    }
                    t2Handled.store(true, ordering: .relaxed)
                    stream.stop()
                }
            } catch {
                failure.withLock { $0 = error }
            }
        }.start()
        // T3 goes on after T1 and T2 committed: a million skipped rows, then its last change.
        Thread.sleep(forTimeInterval: 0.5)
        try t3.execute("INSERT INTO noise SELECT g, 'x' FROM generate_series(1, 1000000) g")
        try t3.execute("INSERT INTO ev VALUES (31, 'T3 last')")
        try t3.execute("COMMIT")
        #expect(done.wait(timeout: .now() + 90) == .success)
        let handled = t2Handled.load(ordering: .relaxed)
        let sawKeepalive = sawKeepalivePastT2.load(ordering: .relaxed)
        #expect(handled, "T2 never reached the handler")
        #expect(sawKeepalive, "no keepalive past T2 while it was handled: the test proves nothing")
        #expect(failure.withLock { $0 } == nil, "\(String(describing: failure.withLock { $0 }))")
        #expect(polls.load(ordering: .relaxed) >= 10, "the slot was read \(polls.load(ordering: .relaxed)) times")
        #expect(violations.withLock { $0 }.isEmpty, "\(violations.withLock { $0 }.prefix(3))")
    }

    // MARK: - The initial snapshot is never skipped silently

    /// The snapshot connection dies during the copy (terminated by the handler, as a network
    /// blip would cut it). The first release reconnected and streamed on without the rest of the
    /// copy. Now the stream ends with `.snapshotIncomplete`, no slot is left (it is created only
    /// once a copy was handled), and a new run copies everything.
    /// With two workers, one of theirs is cut: the whole snapshot fails the same way.
    @Test(arguments: [1, 2]) func anInterruptedInitialSnapshotEndsWithADistinctErrorAndDropsTheSlot(workers: Int) throws
    {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(
            // More than the sockets hold: the copy is still under way when its connection is cut.
            "CREATE TABLE big (id int PRIMARY KEY, v text); INSERT INTO big SELECT g, repeat('v', 200) FROM generate_series(1, 200000) g;"
                + " CREATE PUBLICATION big_pub FOR TABLE big")
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "big_slot", publications: ["big_pub"])
        configuration.createSlot = true
        configuration.initialSnapshot = true
        configuration.snapshotBatchSize = 1000
        configuration.initialSnapshotWorkers = workers
        configuration.reconnect = .init(initialDelay: .seconds(0.05), maxDelay: .seconds(0.2))
        let stream = ChangeStream(configuration)
        var copied = 0
        var thrown: (any Error)?
        // A stream that streams on after the cut (the defect) would never return: stopped after
        // 30 s, it returns without the error and fails below.
        DispatchQueue.global().asyncAfter(deadline: .now() + 30) { stream.stop() }
        do {
            try stream.consume { event in
                guard case .snapshot(let batch) = event else { return }
                copied += batch.rows.count
                if copied == 1000 {
                    // The snapshot's connection: the one running the COPY (one of the workers').
                    let cut = try cluster.psql(
                        "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity"
                            + " WHERE query LIKE 'COPY (%' AND state = 'active' LIMIT 1) copying")
                    #expect(cut == "1", "the copy's connection was not found")
                }
            }
        } catch {
            thrown = error
        }
        let error = try #require(thrown as? ChangeStreamError, "\(String(describing: thrown))")
        #expect(error.kind == .snapshotIncomplete)
        #expect(error.message.contains("no slot was left behind"))
        #expect(copied < 200_000)
        // A slot left behind would make the next run stream without a copy (and wait forever here).
        try #require(
            try cluster.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'big_slot'") == "0",
            "the slot outlived the interrupted copy")
        // A new run starts over and copies every row.
        var second = 0
        let again = ChangeStream(configuration)
        DispatchQueue.global().asyncAfter(deadline: .now() + 60) { again.stop() }
        try again.consume { event in
            guard case .snapshot(let batch) = event else { return }
            second += batch.rows.count
            if batch.isLast { again.stop() }
        }
        #expect(second == 200_000)
    }

    // MARK: - Value formats are pinned

    /// A role whose DateStyle, IntervalStyle and extra_float_digits differ from the defaults: on
    /// the first release the first date failed to decode, and since the error cannot be cured by
    /// reconnecting, the stream stopped for good on the same transaction.
    @Test func aRolesDateStyleDoesNotChangeHowValuesDecode() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(
            """
            CREATE ROLE german LOGIN REPLICATION SUPERUSER;
            ALTER ROLE german SET DateStyle = 'German, DMY';
            ALTER ROLE german SET IntervalStyle = 'sql_standard';
            ALTER ROLE german SET extra_float_digits = 0;
            CREATE TABLE dates (id int PRIMARY KEY, d date, ts timestamptz, i interval, f float8);
            CREATE PUBLICATION dates_pub FOR TABLE dates;
            """)
        #expect(try cluster.psql("SELECT '2024-03-01'::date::text", database: "postgres") == "2024-03-01")
        var configuration = ChangeStream.Configuration(
            dsn: cluster.dsn(user: "german"), slot: "dates_slot", publications: ["dates_pub"])
        configuration.createSlot = true
        configuration.reconnect = .never
        let stream = ChangeStream(configuration)
        let row = Locked<PGRow?>(nil)
        let failure = Locked<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            do {
                try stream.consume { event in
                    guard case .transaction(let transaction) = event,
                        case .insert(_, let new) = transaction.changes.first
                    else { return }
                    row.withLock { $0 = new }
                    stream.stop()
                }
            } catch {
                failure.withLock { $0 = error }
            }
            done.signal()
        }.start()
        #expect(eventually(seconds: 20) { stream.metrics.isConnected })
        try cluster.psql(
            "INSERT INTO dates VALUES (1, '2024-03-01', '2024-03-01 12:34:56.789+00', '1 year 2 days 03:04:05', 0.1)")
        #expect(done.wait(timeout: .now() + 30) == .success)
        if let error = failure.withLock({ $0 }) { throw error }
        let new = try #require(row.withLock { $0 })
        #expect(try new["d", as: PGDate.self].description == "2024-03-01")
        #expect(try new["ts", as: Date.self] == Date(timeIntervalSince1970: 1_709_296_496.789))
        #expect(try new["i", as: PGInterval.self] == PGInterval(months: 12, days: 2, microseconds: 11_045_000_000))
        #expect(try new["f", as: Double.self] == 0.1)
    }

    // MARK: - Reconnects

    /// `maxAttempts: 1` is one retry after each failure, not one for the stream's whole life: the
    /// first release gave up at the second network blip.
    @Test func theReconnectBudgetIsForConsecutiveFailures() throws {
        let rig = try FaultRig()
        let proxy = try TCPProxy(targetPort: rig.cluster.port)
        defer { proxy.stop() }
        var configuration = rig.configuration(dsn: rig.cluster.dsn(extra: ["port": "\(proxy.port)"]))
        configuration.reconnect = .init(maxAttempts: 1, initialDelay: .seconds(0.05), maxDelay: .seconds(0.1))
        let stream = ChangeStream(configuration)
        let recorder = Recorder(stream)
        let writer = Writer(dsn: rig.cluster.dsn())
        #expect(recorder.waitForDeliveries(5))
        for cut in 0..<4 {
            let delivered = recorder.delivered.count
            #expect(
                eventually(seconds: 10) { recorder.delivered.count > delivered + 2 },
                "nothing delivered before cut \(cut)")
            let before = stream.metrics.reconnects
            proxy.cut()
            #expect(eventually(seconds: 20) { stream.metrics.reconnects > before || recorder.isFinished })
        }
        writer.finish()
        try rig.insertMarker()
        #expect(recorder.wait(seconds: 60))
        #expect(recorder.error == nil, "\(String(describing: recorder.error))")
        #expect(stream.metrics.reconnects >= 4)
    }

    // MARK: - close() and stop() reach every wait

    /// `close()` from inside a consumer callback, with the keeper thread running: the first
    /// release freed the connection under the keeper. Now the stream ends with an error naming
    /// the closed connection.
    @Test(.requires(.testDecoding)) func closingTheConnectionInsideTheCallbackIsSafe() throws {
        let database = try TestServer.makeDatabase()
        defer { TestServer.dropDatabase(database.name) }
        let slot = TestServer.uniqueName("close")
        let connection = try LogicalReplicationConnection(database.dsn)
        let cursor = try connection.cursor()
        try cursor.createReplicationSlot(slot, outputPlugin: "test_decoding")
        defer { TestServer.dropSlot(slot) }
        try cursor.startReplication(slotName: slot, decode: true)
        let admin = try PGConnection(database.dsn)
        defer { admin.close() }
        try admin.execute("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 2000)")
        var calls = 0
        #expect(throws: PGError.self) {
            try cursor.consumeStream { _ in
                calls += 1
                // Let the keeper run first, then close under it.
                Thread.sleep(forTimeInterval: 0.3)
                connection.close()
            }
        }
        #expect(calls == 1)
        #expect(connection.closed)
        #expect(throws: PGError.self) { try cursor.readMessage() }
    }

    /// `stop()` while the stream connects to a server that never answers (a socket that listens
    /// and never accepts: the kernel completes the handshake, and nothing ever replies): the
    /// first release waited in libpq's blocking connect.
    @Test func stopEndsAConnectThatHangs() throws {
        let listener = try SilentListener()
        defer { listener.close() }
        var configuration = ChangeStream.Configuration(
            dsn: "host=127.0.0.1 port=\(listener.port) user=postgres dbname=postgres", slot: "s", publications: ["p"])
        configuration.reconnect = .never
        let stream = ChangeStream(configuration)
        let done = runInBackground(stream)
        Thread.sleep(forTimeInterval: 1)
        expectStopReturns(stream, done, within: 2)
    }

    /// `stop()` while the link is black-holed (the proxy swallows everything): the stop sends
    /// CopyDone and waits for the server's end of the copy, which never comes. The first release
    /// waited forever (Ctrl-C hung); now the wait is bounded, by the receive timeout or, without
    /// one, by 10 s.
    @Test func stopOverABlackHoledLinkReturns() throws {
        let rig = try FaultRig()
        let proxy = try TCPProxy(targetPort: rig.cluster.port)
        defer { proxy.stop() }
        let stream = ChangeStream(rig.configuration(dsn: rig.cluster.dsn(extra: ["port": "\(proxy.port)"])))
        let done = runInBackground(stream)
        #expect(eventually(seconds: 20) { stream.metrics.isConnected })
        proxy.stall()
        Thread.sleep(forTimeInterval: 0.3)
        expectStopReturns(stream, done, within: 13)
    }

    /// `stop()` while creating the slot waits for a transaction that is still running (the
    /// server needs a consistent point): the first release waited in libpq. The command is
    /// cancelled, no slot remains, and `run()` returns.
    @Test func stopEndsASlotCreationThatWaits() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql("CREATE TABLE w (id int PRIMARY KEY); CREATE PUBLICATION w_pub FOR TABLE w")
        let holder = try PGConnection(cluster.dsn())
        defer { holder.close() }
        try holder.execute("BEGIN; INSERT INTO w VALUES (1)")
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "w_slot", publications: ["w_pub"])
        configuration.createSlot = true
        let stream = ChangeStream(configuration)
        let done = runInBackground(stream)
        #expect(
            try eventually(seconds: 20) {
                try cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE_REPLICATION_SLOT%'")
                    == "1"
            })
        Thread.sleep(forTimeInterval: 0.5)
        expectStopReturns(stream, done, within: 3)
        #expect(
            try eventually(seconds: 5) {
                try cluster.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'w_slot'") == "0"
            })
        try holder.execute("ROLLBACK")
    }

    /// `stop()` while the initial snapshot's copy waits for a lock another session took on the
    /// second table: the first release could not interrupt the copy. The wait ends, the command is
    /// cancelled, and the slot that lacks its snapshot is dropped.
    @Test func stopEndsASnapshotCopyThatWaits() throws {
        let cluster = try LocalCluster.start(testClusterConfiguration)
        defer { cluster.destroy() }
        try cluster.psql(
            "CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a SELECT generate_series(1, 20);"
                + " CREATE TABLE b (id int PRIMARY KEY); CREATE PUBLICATION ab_pub FOR TABLE a, b")
        var configuration = ChangeStream.Configuration(dsn: cluster.dsn(), slot: "ab_slot", publications: ["ab_pub"])
        configuration.createSlot = true
        configuration.initialSnapshot = true
        configuration.snapshotBatchSize = 5
        let stream = ChangeStream(configuration)
        let failure = Locked<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        let dsn = cluster.dsn()
        Thread {
            defer { done.signal() }
            do {
                let holder = try PGConnection(dsn)
                defer { holder.close() }
                try stream.consume { event in
                    // While table a is copied, another session locks table b.
                    if case .snapshot(let batch) = event, batch.table.name == "a",
                        try batch.rows.first.map({ try $0["id", as: Int.self] == 1 }) == true
                    {
                        try holder.execute("BEGIN; LOCK TABLE b IN ACCESS EXCLUSIVE MODE")
                    }
                }
            } catch {
                failure.withLock { $0 = error }
            }
        }.start()
        #expect(
            try eventually(seconds: 20) {
                try cluster.psql("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'b'::regclass") == "1"
            }, "the copy never waited for the lock")
        expectStopReturns(stream, done, within: 7)
        let error = try #require(failure.withLock { $0 } as? ChangeStreamError)
        #expect(error.kind == .snapshotIncomplete)
        #expect(try cluster.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'ab_slot'") == "0")
    }

    // MARK: - Delivery

    /// Async delivery with a full buffer: the I/O thread waits for the consumer, and manual
    /// acknowledgements must still reach the slot promptly (on the first release, up to
    /// `statusInterval` later).
    ///
    /// The bounds are fractions of `statusInterval` (30 s), the delay this test guards against:
    /// the keeper sends within a tick (0.1 s), but a loaded CI machine once took 1.5 s for one
    /// round trip (the check itself is a psql run), so one slow acknowledgement is not the defect;
    /// a typical one (the median) that is slow, or any that waits for the status interval, is.
    @Test func acknowledgementsReachTheSlotWhileTheAsyncBufferIsFull() async throws {
        let rig = try FaultRig()
        var configuration = rig.configuration()
        configuration.statusInterval = .seconds(30)
        configuration.bufferSize = 1
        configuration.acknowledgement = .manual
        let stream = ChangeStream(configuration)
        for id in 1...20 { try rig.cluster.psql("INSERT INTO ev VALUES (\(id), 'x')") }
        var iterator = stream.events().makeAsyncIterator()
        var latencies: [Double] = []
        var handled = 0
        while handled < 10, let event = try await iterator.next() {
            guard case .transaction(let transaction) = event else { continue }
            handled += 1
            // The I/O thread holds the next events and waits: the buffer is full.
            try await Task.sleep(for: .milliseconds(150))
            let acknowledged = Date()
            stream.acknowledge(transaction.endLSN)
            while try rig.confirmedFlush() ?? 0 < transaction.endLSN {
                #expect(Date().timeIntervalSince(acknowledged) < 10, "the acknowledgement did not reach the slot")
                if Date().timeIntervalSince(acknowledged) >= 10 { break }
                try await Task.sleep(for: .milliseconds(5))
            }
            latencies.append(Date().timeIntervalSince(acknowledged))
        }
        stream.stop()
        latencies.sort()
        print(
            "acknowledgement to confirmed_flush_lsn with the async buffer full: median \(latencies[latencies.count / 2] * 1000) ms, max \((latencies.last ?? 0) * 1000) ms"
        )
        #expect(latencies.count == 10)
        #expect(latencies[latencies.count / 2] < 0.5)
        #expect((latencies.last ?? 99) < 10)
    }

    /// Chunked delivery, the connection lost in the middle of a transaction: before the server
    /// sends it again from its begin, the stream closes the part delivered with an abort of the
    /// whole transaction (reason `.interrupted`). The first release sent a second `.begin` with
    /// no end for the first.
    @Test func chunkedDeliveryClosesAnInterruptedTransactionBeforeItsReplay() throws {
        let rig = try FaultRig()
        var configuration = rig.configuration()
        configuration.delivery = .chunked(batchSize: 1000)
        let stream = ChangeStream(configuration)
        let events = Locked<[String]>([])
        let killed = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
        let failure = Locked<(any Error)?>(nil)
        Thread {
            defer { done.signal() }
            do {
                try stream.consume { event in
                    switch event {
                    case .begin(let begin): events.withLock { $0.append("begin \(begin.xid)") }
                    case .changes(let batch):
                        events.withLock { $0.append("changes \(batch.xid)") }
                        if !killed.load(ordering: .relaxed) {
                            killed.store(true, ordering: .relaxed)
                            // Let the engine fill what it keeps, and the walsender block on the socket.
                            Thread.sleep(forTimeInterval: 1)
                            _ = try rig.cluster.psql(
                                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '\(rig.slot)'"
                            )
                            Thread.sleep(forTimeInterval: 0.5)
                        }
                    case .abort(let abort):
                        events.withLock { $0.append("abort \(abort.xid) \(abort.reason)") }
                    case .commit(let commit):
                        events.withLock { $0.append("commit \(commit.xid)") }
                        stream.stop()
                    default: break
                    }
                }
            } catch {
                failure.withLock { $0 = error }
            }
        }.start()
        #expect(eventually(seconds: 20) { stream.metrics.isConnected })
        // Larger than the engine keeps while the handler is busy (16 MiB): the walsender is still
        // sending when it is killed.
        try rig.cluster.psql("INSERT INTO ev SELECT g, 'x' FROM generate_series(1, 600000) g")
        #expect(done.wait(timeout: .now() + 120) == .success)
        #expect(failure.withLock { $0 } == nil, "\(String(describing: failure.withLock { $0 }))")
        let seen = events.withLock { $0 }
        print("chunked events: \(seen.filter { !$0.hasPrefix("changes") })")
        let xid = try #require(seen.first.map { String($0.dropFirst("begin ".count)) })
        let abortIndex = try #require(seen.firstIndex(of: "abort \(xid) interrupted"), "\(seen)")
        #expect(seen[abortIndex + 1] == "begin \(xid)", "\(seen)")
        #expect(seen.last == "commit \(xid)")
        #expect(seen.filter { $0 == "begin \(xid)" }.count == 2)
    }

    // MARK: - Literals

    /// `standard_conforming_strings = off`: a literal with a backslash must still mean what it
    /// says (the first release doubled quotes only).
    @Test func literalsAreRightWhateverStandardConformingStringsSays() throws {
        let connection = try PGConnection(try TestServer.dsn("options='-c standard_conforming_strings=off'"))
        defer { connection.close() }
        #expect(try connection.execute("SHOW standard_conforming_strings").scalar == "off")
        for value in ["a\\b", "it's", "\\'; SELECT 1; --", "tab\there", "ünïcode\\\\"] {
            #expect(try connection.execute("SELECT \(try connection.quoteLiteral(value))").scalar == value)
        }
    }
}

/// A stream's `run` on a thread of its own: when it returned, and what it threw.
private final class BackgroundRun: Sendable {
    let done = DispatchSemaphore(value: 0)
    let ended = Locked<(at: Date, error: (any Error)?)?>(nil)
}

/// Runs `stream` on a thread of its own.
private func runInBackground(_ stream: ChangeStream) -> BackgroundRun {
    let run = BackgroundRun()
    Thread {
        do {
            try stream.consume { _ in }
            run.ended.withLock { $0 = (Date(), nil) }
        } catch {
            run.ended.withLock { $0 = (Date(), error) }
        }
        run.done.signal()
    }.start()
    return run
}

/// Stops `stream` and expects its `run` (started by ``runInBackground(_:)``) to have run until
/// the stop, and to return within `seconds` without an error: a run that failed at once (the
/// server refused, say) would return "in time" too, and prove nothing.
private func expectStopReturns(
    _ stream: ChangeStream, _ run: BackgroundRun, within seconds: Double,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        run.ended.withLock { $0 } == nil, "run() ended before stop(): \(String(describing: run.ended.withLock { $0 }))",
        sourceLocation: sourceLocation)
    expectStopReturns(stream, run.done, within: seconds, sourceLocation: sourceLocation)
    let error = run.ended.withLock { $0?.error }
    #expect(error == nil, "run() ended with \(String(describing: error))", sourceLocation: sourceLocation)
}

/// Stops `stream` and expects its `run` (signalling `done`; the caller checks how it ended) to
/// return within `seconds`.
private func expectStopReturns(
    _ stream: ChangeStream, _ done: DispatchSemaphore, within seconds: Double,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let stopped = Date()
    stream.stop()
    #expect(
        done.wait(timeout: .now() + seconds + 5) == .success, "run() did not return after stop()",
        sourceLocation: sourceLocation)
    #expect(Date().timeIntervalSince(stopped) < seconds, sourceLocation: sourceLocation)
}

/// A TCP socket on loopback that listens and never accepts: connects to it complete, and then
/// nothing answers.
private final class SilentListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard fd >= 0, bound == 0, listen(fd, 8) == 0 else { throw TestSetupError("cannot listen on loopback") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(fd) }
}
