import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Synchronization
import Testing

/// A private cluster for one fault test: table `ev (id int PRIMARY KEY, v text)`, publication
/// `ev_pub`, the pgoutput slot under test and a reference slot copied from it (so both start at
/// the same position; its plugin is the best the build has, see ``Reference``), a background
/// writer and a recording consumer.
///
/// The check that matters, ``expectNothingAcknowledgedMissing(delivered:acknowledged:requireAll:reference:)``:
/// every transaction the reference slot decoded that ends at or before the acknowledged position
/// reached the consumer's handler with the same changes.
final class FaultRig: Sendable {
    let cluster: LocalCluster
    let slot = "ev_slot"
    let referenceSlot = "ev_ref"
    /// A DSN over TCP as the superuser (the SCRAM user when passwords are on).
    let dsn: String
    /// What the reference slot has returned so far (reading consumes it).
    private let reference = Locked<[ComparableTransaction]>([])

    init(
        settings: [String: String] = [:], tls: LocalCluster.Configuration.TLSFiles? = nil,
        authentication: LocalCluster.Configuration.Authentication = .trust
    ) throws {
        var configuration = testClusterConfiguration
        configuration.settings.merge(settings) { $1 }
        configuration.authentication = authentication
        configuration.tls = tls
        cluster = try LocalCluster.start(configuration)
        if case .scramPassword(let user, _) = authentication {
            dsn = cluster.dsn(user: user)
        } else {
            dsn = cluster.dsn()
        }
        try cluster.psql("CREATE TABLE ev (id int PRIMARY KEY, v text); CREATE PUBLICATION ev_pub FOR TABLE ev")
        try cluster.psql("SELECT pg_create_logical_replication_slot('\(slot)', 'pgoutput')")
        // The reference: a copy of the slot under test, decoded by another plugin where the build
        // has one (see Reference).
        try cluster.psql(Reference.copySlot(slot, to: referenceSlot))
    }

    deinit { cluster.destroy() }

    /// A change stream configuration for the slot under test, reconnecting quickly.
    func configuration(dsn: String? = nil) -> ChangeStream.Configuration {
        var configuration = ChangeStream.Configuration(dsn: dsn ?? self.dsn, slot: slot, publications: ["ev_pub"])
        configuration.reconnect = ChangeStream.ReconnectPolicy(initialDelay: .seconds(0.05), maxDelay: .seconds(0.5))
        configuration.statusInterval = .seconds(1)
        return configuration
    }

    /// Inserts the end marker (id -1), retrying while the server restarts.
    func insertMarker() throws {
        var lastError: (any Error)?
        for _ in 0..<100 {
            do {
                try PGConnection(dsn).execute("INSERT INTO ev VALUES (-1, 'end')")
                return
            } catch {
                lastError = error
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        throw lastError ?? TestSetupError("could not insert the marker")
    }

    static func isMarker(_ transaction: PGTransaction) -> Bool {
        transaction.changes.contains { change in
            // An unreadable id is no marker: the wait for the marker then times out and fails.
            if case .insert(_, let new) = change { return (try? new["id", as: Int.self]) == -1 }
            return false
        }
    }

    /// Reads what the reference slot has decoded since the last read and returns everything so far.
    @discardableResult
    func readReference() throws -> [ComparableTransaction] {
        let more = try Reference.read(slot: referenceSlot, tables: ["ev"], publication: "ev_pub", dsn: dsn)
        return reference.withLock { all in
            all += more
            return all
        }
    }

    /// The slot's `confirmed_flush_lsn`, nil when the slot is gone.
    func confirmedFlush() throws -> LSN? {
        let text = try cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '\(slot)'")
        return text.isEmpty ? nil : try LSN(text)
    }

    /// Every reference transaction ending at or before `acknowledged` was delivered with the same
    /// changes (and, with `requireAll`, every reference transaction was); nothing delivered is
    /// unknown to the reference. Returns how many acknowledged transactions were checked.
    @discardableResult
    func expectNothingAcknowledgedMissing(
        delivered: [ComparableTransaction], acknowledged: LSN, requireAll: Bool,
        reference given: [ComparableTransaction]? = nil, writer: Writer? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Int {
        if let writer {
            // An oracle that shares no code with the stream (on 16 the reference slot is read
            // with this package's decoder): a transaction the writer saw commit before a position
            // that was acknowledged must have been delivered, and nothing delivered is unknown to
            // the table.
            let deliveredIDs = Set(
                delivered.flatMap(\.changes).compactMap { change -> Int? in
                    guard case .int32(let id)? = change.values["id"] else { return nil }
                    return Int(id)
                })
            let owed = writer.committedWithPositions.filter { $0.after <= acknowledged }
            let missing = owed.filter { !Set($0.ids).isSubset(of: deliveredIDs) }
            #expect(
                missing.isEmpty,
                "\(missing.count) of \(owed.count) transactions committed before the acknowledged \(acknowledged) were not delivered, first \(missing.first.map { "\($0.ids)" } ?? "")",
                sourceLocation: sourceLocation)
            #expect(
                !owed.isEmpty, "no committed transaction lies before the acknowledged position",
                sourceLocation: sourceLocation)
            let table = Set(
                try cluster.psql("SELECT id FROM ev").split(separator: "\n").compactMap { Int($0) })
            let invented = deliveredIDs.subtracting(table).subtracting([-1])
            #expect(
                invented.isEmpty, "delivered ids the table never had: \(invented.sorted().prefix(5))",
                sourceLocation: sourceLocation)
        }
        let reference = try given ?? readReference()
        let deliveredChanges = Set(delivered.map(\.changes))
        let referenceChanges = Set(reference.map(\.changes))
        let acknowledgedReference = reference.filter { $0.endLSN <= acknowledged }
        let missing = acknowledgedReference.filter { !deliveredChanges.contains($0.changes) }
        #expect(
            missing.isEmpty,
            "\(missing.count) acknowledged transactions were not delivered, first: \(missing.first.map { "\($0.endLSN) \($0.changes)" } ?? "")",
            sourceLocation: sourceLocation)
        #expect(
            !acknowledgedReference.isEmpty, "nothing was acknowledged, so the check proves nothing",
            sourceLocation: sourceLocation)
        if requireAll {
            let undelivered = reference.filter { !deliveredChanges.contains($0.changes) }
            #expect(
                undelivered.isEmpty, "\(undelivered.count) committed transactions were never delivered",
                sourceLocation: sourceLocation)
        }
        let invented = delivered.filter { !referenceChanges.contains($0.changes) && !$0.isMarker }
        #expect(
            invented.isEmpty, "\(invented.count) delivered transactions are unknown to the reference",
            sourceLocation: sourceLocation)
        if requireAll {
            // The second oracle, the same on every version: what was delivered, replayed, is the table.
            var mirror = Mirror()
            for transaction in delivered { mirror.apply(transaction, keys: ["ev": ["id"]]) }
            let table = try Mirror.select(["ev"], keys: ["ev": ["id"]], dsn: dsn)
            let difference = mirror.difference(from: table)
            #expect(
                difference == nil, "the replayed stream differs from SELECT: \(difference ?? "")",
                sourceLocation: sourceLocation)
        }
        return acknowledgedReference.count
    }
}

extension ComparableTransaction {
    var isMarker: Bool { changes.contains { $0.values["id"] == .int32(-1) } }
}

/// Commits two-row transactions (ids 2n and 2n+1) on a thread of its own until ``finish()``,
/// reconnecting after failures (the server may be down).
final class Writer: Sendable {
    private let running = Atomic<Bool>(true)
    private let done = DispatchSemaphore(value: 0)
    private let commits = Atomic<Int>(0)
    /// Each committed transaction's ids, with the server's WAL position read right after its
    /// commit returned: at or past the commit record's end. The oracle that needs no decoder.
    private let log = Locked<[(ids: [Int], after: LSN)]>([])

    init(dsn: String, pause: Double = 0.003) {
        Thread { [self] in
            defer { done.signal() }
            var next = 1
            var connection: PGConnection?
            while running.load(ordering: .relaxed) {
                do {
                    if connection == nil { connection = try PGConnection(dsn) }
                    try connection?.execute("INSERT INTO ev VALUES (\(2 * next), 'a'), (\(2 * next + 1), 'b')")
                    commits.add(1, ordering: .relaxed)
                    // Committed: a failure to read the position now only leaves it unchecked.
                    if let text = try connection?.execute("SELECT pg_current_wal_lsn()").scalar {
                        let after = try LSN(text)
                        log.withLock { $0.append(([2 * next, 2 * next + 1], after)) }
                    }
                } catch {
                    connection = nil
                    Thread.sleep(forTimeInterval: 0.05)
                }
                next += 1
                Thread.sleep(forTimeInterval: pause)
            }
        }.start()
    }

    var committed: Int { commits.load(ordering: .relaxed) }

    /// The committed transactions whose position is known (see `log`).
    var committedWithPositions: [(ids: [Int], after: LSN)] { log.withLock { $0 } }

    func finish() {
        running.store(false, ordering: .relaxed)
        done.wait()
    }
}

/// Runs a change stream on a thread of its own and records each transaction after `handle`
/// returned for it (what reached downstream); stops at the marker.
final class Recorder: Sendable {
    private let transactions = Locked<[ComparableTransaction]>([])
    private let failure = Locked<(any Error)?>(nil)
    private let done = DispatchSemaphore(value: 0)
    private let finished = Atomic<Bool>(false)

    init(_ stream: ChangeStream, handle: @escaping @Sendable (PGTransaction) throws -> Void = { _ in }) {
        Thread { [self] in
            do {
                try stream.consume { event in
                    guard case .transaction(let transaction) = event else { return }
                    try handle(transaction)
                    transactions.withLock { $0.append(ComparableTransaction(transaction)) }
                    if FaultRig.isMarker(transaction) { stream.stop() }
                }
            } catch {
                failure.withLock { $0 = error }
            }
            finished.store(true, ordering: .relaxed)
            done.signal()
        }.start()
    }

    var delivered: [ComparableTransaction] { transactions.withLock { $0 } }
    var error: (any Error)? { failure.withLock { $0 } }
    var isFinished: Bool { finished.load(ordering: .relaxed) }

    /// Waits for the stream to end; false on timeout.
    func wait(seconds: Double) -> Bool {
        guard done.wait(timeout: .now() + seconds) == .success else { return false }
        done.signal()
        return true
    }

    /// Waits until at least `count` transactions were delivered; false on timeout.
    func waitForDeliveries(_ count: Int, seconds: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if transactions.withLock({ $0.count }) >= count { return true }
            if isFinished { return false }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }
}

/// Waits until `condition` holds; false on timeout.
func eventually(seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return try condition()
}
