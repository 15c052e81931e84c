import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Faults against a real server, each on a private cluster: every test ends in a successful resume
/// or a typed error, and checks against a reference slot at the same start position (and, where
/// everything was delivered, against the table itself) that no acknowledged transaction is
/// missing downstream.
@Suite(.serialized) struct FaultInjectionTests {
    /// Runs the writer, calls `inject` a few times while it writes, then the marker; returns the
    /// recorder after the stream ended.
    private func streamThroughFaults(
        _ rig: FaultRig, _ stream: ChangeStream, faults: Int, pause: Double = 0.6,
        inject: (Int) throws -> Void
    ) throws -> Recorder {
        let recorder = Recorder(stream)
        let writer = Writer(dsn: rig.cluster.dsn())
        #expect(recorder.waitForDeliveries(5))
        for fault in 0..<faults {
            Thread.sleep(forTimeInterval: pause)
            try inject(fault)
        }
        Thread.sleep(forTimeInterval: pause)
        writer.finish()
        try rig.insertMarker()
        #expect(recorder.wait(seconds: 90), "the stream did not reach the marker after the faults")
        #expect(writer.committed > 50)
        return recorder
    }

    @Test func networkCutsResumeWithNothingLost() throws {
        let rig = try FaultRig()
        let proxy = try TCPProxy(targetPort: rig.cluster.port)
        defer { proxy.stop() }
        let stream = ChangeStream(rig.configuration(dsn: rig.cluster.dsn(extra: ["port": "\(proxy.port)"])))
        let recorder = try streamThroughFaults(rig, stream, faults: 4) { _ in
            #expect(eventually(seconds: 10) { stream.metrics.isConnected })
            // Each cut must land on a live connection: wait until the stream noticed it and
            // reconnected, or the next cut could fall between connections (a loaded machine).
            let before = stream.metrics.reconnects
            proxy.cut()
            #expect(eventually(seconds: 20) { stream.metrics.reconnects > before })
        }
        if let error = recorder.error { throw error }
        #expect(stream.metrics.reconnects >= 4)
        try rig.expectNothingAcknowledgedMissing(
            delivered: recorder.delivered, acknowledged: try rig.confirmedFlush() ?? 0, requireAll: true)
    }

    @Test func aStallLongerThanTheTimeoutsEndsInAReconnectNotAHang() throws {
        // The server gives up on the silent client after wal_sender_timeout (releasing the slot);
        // the client gives up after its receive timeout. Keepalives every 1 s keep a healthy
        // stream well inside both. (TCP keepalives and tcp_user_timeout cannot see this stall:
        // the proxy's kernel still acknowledges every segment, as a middlebox that lost its
        // state would.)
        let rig = try FaultRig(settings: ["wal_sender_timeout": "2s"])
        let proxy = try TCPProxy(targetPort: rig.cluster.port)
        defer { proxy.stop() }
        var configuration = rig.configuration(
            dsn: rig.cluster.dsn(extra: [
                "port": "\(proxy.port)", "keepalives_idle": "1", "keepalives_interval": "1", "keepalives_count": "2",
                "tcp_user_timeout": "3000",
            ]))
        configuration.receiveTimeout = .seconds(3)
        let stream = ChangeStream(configuration)
        let started = Date()
        let recorder = try streamThroughFaults(rig, stream, faults: 1, pause: 1) { _ in
            #expect(eventually(seconds: 10) { stream.metrics.isConnected })
            proxy.stall()
            let stalled = Date()
            #expect(eventually(seconds: 20) { stream.metrics.reconnects >= 1 }, "no reconnect 20 s into the stall")
            #expect(Date().timeIntervalSince(stalled) < 15)
            #expect(eventually(seconds: 20) { stream.metrics.isConnected }, "no new stream after the stall")
        }
        if let error = recorder.error { throw error }
        #expect(Date().timeIntervalSince(started) < 60)
        #expect(proxy.acceptedConnections >= 2)
        try rig.expectNothingAcknowledgedMissing(
            delivered: recorder.delivered, acknowledged: try rig.confirmedFlush() ?? 0, requireAll: true)
    }

    @Test func aSlowNetworkDeliversEverything() throws {
        let rig = try FaultRig()
        let proxy = try TCPProxy(targetPort: rig.cluster.port)
        defer { proxy.stop() }
        let stream = ChangeStream(rig.configuration(dsn: rig.cluster.dsn(extra: ["port": "\(proxy.port)"])))
        let recorder = try streamThroughFaults(rig, stream, faults: 2, pause: 1.5) { fault in
            proxy.slow(bytesPerSecond: fault == 0 ? 20_000 : nil)
        }
        if let error = recorder.error { throw error }
        try rig.expectNothingAcknowledgedMissing(
            delivered: recorder.delivered, acknowledged: try rig.confirmedFlush() ?? 0, requireAll: true)
    }

    @Test func serverImmediateRestartsResumeWithNothingLost() throws {
        let rig = try FaultRig()
        let stream = ChangeStream(rig.configuration())
        let recorder = try streamThroughFaults(rig, stream, faults: 3, pause: 0.8) { _ in
            try rig.cluster.stop(mode: .immediate)
            try rig.cluster.start()
        }
        if let error = recorder.error { throw error }
        #expect(stream.metrics.reconnects >= 3)
        try rig.expectNothingAcknowledgedMissing(
            delivered: recorder.delivered, acknowledged: try rig.confirmedFlush() ?? 0, requireAll: true)
    }

    @Test func killedWalsendersResumeWithNothingLost() throws {
        let rig = try FaultRig()
        let stream = ChangeStream(rig.configuration())
        let recorder = try streamThroughFaults(rig, stream, faults: 4) { fault in
            let pid = try #require(
                try eventually(seconds: 10) {
                    !(try rig.cluster.psql(
                        "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '\(rig.slot)' AND active"
                    ).isEmpty)
                }
                    ? Int32(
                        rig.cluster.psql("SELECT active_pid FROM pg_replication_slots WHERE slot_name = '\(rig.slot)'"))
                    : nil)
            // SIGTERM (pg_terminate_backend) and SIGKILL (the postmaster then restarts every backend).
            #expect(kill(pid, fault % 2 == 0 ? SIGTERM : SIGKILL) == 0)
        }
        if let error = recorder.error { throw error }
        #expect(stream.metrics.reconnects >= 4)
        try rig.expectNothingAcknowledgedMissing(
            delivered: recorder.delivered, acknowledged: try rig.confirmedFlush() ?? 0, requireAll: true)
    }

    @Test func aOneSecondSenderTimeoutSurvivesASlowHandler() throws {
        let rig = try FaultRig()
        var configuration = rig.configuration(dsn: rig.cluster.dsn(extra: ["options": "-c wal_sender_timeout=1s"]))
        configuration.reconnect = .never
        let stream = ChangeStream(configuration)
        let slowOnes = Atomic<Int>(0)
        let recorder = Recorder(stream) { _ in
            // The first four transactions each take 2.5 s to handle.
            if slowOnes.add(1, ordering: .relaxed).newValue <= 4 { Thread.sleep(forTimeInterval: 2.5) }
        }
        let writer = Writer(dsn: rig.cluster.dsn(), pause: 0.05)
        Thread.sleep(forTimeInterval: 6)
        writer.finish()
        try rig.insertMarker()
        #expect(recorder.wait(seconds: 90))
        if let error = recorder.error { throw error }
        #expect(stream.metrics.reconnects == 0)
        #expect(try rig.cluster.psql("SHOW wal_sender_timeout") == "1min", "the 1 s timeout was the connection's own")
        try rig.expectNothingAcknowledgedMissing(
            delivered: recorder.delivered, acknowledged: try rig.confirmedFlush() ?? 0, requireAll: true)
    }

    @Test func aSlotDroppedUnderARunningStreamIsSlotMissing() throws {
        let rig = try FaultRig()
        var configuration = rig.configuration()
        configuration.reconnect = ChangeStream.ReconnectPolicy(initialDelay: .seconds(0.3), maxDelay: .seconds(1))
        let stream = ChangeStream(configuration)
        let recorder = Recorder(stream)
        let writer = Writer(dsn: rig.cluster.dsn())
        #expect(recorder.waitForDeliveries(20))
        // Terminate the walsender and drop the slot before the stream reconnects to it.
        let dropped = try eventually(seconds: 20) {
            _ = try rig.cluster.psql(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '\(rig.slot)' AND active"
            )
            // The drop fails while the stream holds the slot again; polled until it succeeds.
            return (try? rig.cluster.psql("SELECT pg_drop_replication_slot('\(rig.slot)')")) != nil
        }
        #expect(dropped)
        writer.finish()
        #expect(recorder.wait(seconds: 30), "the stream did not end after its slot was dropped")
        let error = try #require(recorder.error as? ChangeStreamError, "got \(String(describing: recorder.error))")
        #expect(error.kind == .slotMissing)
        #expect(error.slot == rig.slot)
        #expect(error.description.contains("does not exist"))
        try rig.expectNothingAcknowledgedMissing(
            delivered: recorder.delivered, acknowledged: stream.metrics.acknowledgedLSN, requireAll: false,
            writer: writer)
    }

    @Test func aSlotInvalidatedByMaxSlotWALKeepSizeIsSlotInvalidated() throws {
        let rig = try FaultRig(settings: [
            "max_slot_wal_keep_size": "32MB", "wal_keep_size": "0", "max_wal_size": "64MB",
        ])
        try rig.cluster.psql("CREATE TABLE filler (id int, pad text)")
        let stream = ChangeStream(rig.configuration())
        // A consumer stalled in its handler from the 10th transaction on.
        let release = DispatchSemaphore(value: 0)
        let handled = Atomic<Int>(0)
        let recorder = Recorder(stream) { _ in
            if handled.add(1, ordering: .relaxed).newValue == 10 { release.wait() }
        }
        let writer = Writer(dsn: rig.cluster.dsn(), pause: 0.01)
        #expect(eventually(seconds: 30) { handled.load(ordering: .relaxed) >= 10 && writer.committed >= 30 })
        writer.finish()
        // What the slot should have delivered, read before the reference slot loses its WAL too.
        let reference = try rig.readReference()
        // WAL the stalled slot cannot keep, then checkpoints until it is lost.
        let lost = try eventually(seconds: 120) {
            try rig.cluster.psql(
                "INSERT INTO filler SELECT g, repeat(md5(g::text), 60) FROM generate_series(1, 4000) g; SELECT pg_switch_wal(); CHECKPOINT"
            )
            return try rig.cluster.psql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = '\(rig.slot)'")
                == "lost"
        }
        #expect(lost, "the slot was not invalidated")
        release.signal()
        #expect(recorder.wait(seconds: 60), "the stream did not end after its slot was invalidated")
        let error = try #require(recorder.error as? ChangeStreamError, "got \(String(describing: recorder.error))")
        #expect(error.kind == .slotInvalidated)
        #expect(error.description.contains("invalidated"))
        try rig.expectNothingAcknowledgedMissing(
            delivered: recorder.delivered, acknowledged: stream.metrics.acknowledgedLSN, requireAll: false,
            reference: reference, writer: writer)
    }

    /// `pgrepl stream` does not exist on this branch, so the output is the handler's own file:
    /// after five transactions it becomes `/dev/full`, where every write fails with ENOSPC from the
    /// kernel, as on a full disk. The handler's error ends the stream unchanged and unacknowledged;
    /// once space is back, a new stream resumes and the output holds every committed transaction.
    @Test func outputDiskFullStopsWithoutAcknowledgingAndResumesLater() throws {
        let rig = try FaultRig()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("diskfull-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { removeTemporary(folder.path) }
        let outputPath = folder.appendingPathComponent("changes.jsonl").path
        let output = try OutputFile(path: outputPath)
        let full = try OutputFile(path: "/dev/full")
        let written = Atomic<Int>(0)

        var configuration = rig.configuration()
        configuration.reconnect = .never
        let first = ChangeStream(configuration)
        let firstRecorder = Recorder(first) { transaction in
            try (written.add(1, ordering: .relaxed).newValue <= 5 ? output : full).append(transaction)
        }
        let writer = Writer(dsn: rig.cluster.dsn(), pause: 0.02)
        #expect(firstRecorder.wait(seconds: 30), "the stream did not stop at the full disk")
        let error = try #require(
            firstRecorder.error as? OutputFile.WriteError, "got \(String(describing: firstRecorder.error))")
        #expect(error.code == ENOSPC)
        #expect(error.description.contains("No space left on device"))
        #expect(firstRecorder.delivered.count == 5)
        // Nothing past what reached the file was acknowledged.
        let acknowledged = try #require(try rig.confirmedFlush())
        #expect(acknowledged <= (firstRecorder.delivered.last?.endLSN ?? 0))

        // Space is back: resume from the slot.
        let second = ChangeStream(configuration)
        let secondRecorder = Recorder(second) { try output.append($0) }
        Thread.sleep(forTimeInterval: 1)
        writer.finish()
        try rig.insertMarker()
        #expect(secondRecorder.wait(seconds: 60))
        if let error = secondRecorder.error { throw error }
        let inFile = try OutputFile.read(path: outputPath)
        #expect(inFile.count == firstRecorder.delivered.count + secondRecorder.delivered.count)
        try rig.expectNothingAcknowledgedMissing(
            delivered: inFile.map { ComparableTransaction(xid: 0, changes: $0) },
            acknowledged: try rig.confirmedFlush() ?? 0, requireAll: true)
    }
}

/// An append-only output of transactions, one line each (`id=…,v=…;…`), written with `write(2)`
/// and `fsync` so a full disk is seen at once.
final class OutputFile: Sendable {
    struct WriteError: Error, CustomStringConvertible {
        var path: String
        var code: Int32
        var description: String { "cannot write the output \(path): \(String(cString: strerror(code)))" }
    }

    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw WriteError(path: path, code: errno) }
    }

    deinit { close(fd) }

    func append(_ transaction: PGTransaction) throws {
        let line = ComparableTransaction(transaction).changes.map(Self.encode).joined(separator: ";") + "\n"
        let bytes = Array(line.utf8)
        let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard count == bytes.count, fsync(fd) == 0 || errno == EINVAL else { throw WriteError(path: path, code: errno) }
    }

    private static func encode(_ change: ComparableChange) -> String {
        "\(change.action)|\(change.table)|"
            + change.values.keys.sorted().map { "\($0)=\(change.values[$0]?.description ?? "")" }.joined(separator: ",")
    }

    /// The file's transactions, as the changes they held (ids and texts, typed as the table's).
    static func read(path: String) throws -> [[ComparableChange]] {
        try readTextFile(path).split(separator: "\n").map { line in
            try line.split(separator: ";").map { change in
                let parts = change.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
                guard parts.count == 3, let action = parts[0].first else {
                    throw TestSetupError("bad output line \(line)")
                }
                var values: [String: PGValue] = [:]
                for pair in parts[2].split(separator: ",") {
                    let keyValue = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    guard keyValue.count == 2 else { continue }
                    values[keyValue[0]] =
                        keyValue[0] == "id" ? Int32(keyValue[1]).map(PGValue.int32) ?? .null : .text(keyValue[1])
                }
                return ComparableChange(action: action, table: String(parts[1]), values: values)
            }
        }
    }
}
