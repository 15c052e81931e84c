import Foundation
import PGLocalCluster
import PGReplication
import PGSupport
import Testing

/// A session whose commit waits for a synchronous standby that never comes
/// (``requireAStandbyThatNeverComes(_:)``), on a thread of its own, until ``release(_:)``.
final class WaitingCommit: Sendable {
    /// Points `synchronous_standby_names` at a standby that never comes: from here every commit
    /// with `synchronous_commit` on waits for it, after the stream may have decoded it.
    static func requireAStandbyThatNeverComes(_ cluster: LocalCluster) throws {
        try cluster.psql("ALTER SYSTEM SET synchronous_standby_names = 'absent'")
        try cluster.psql("SELECT pg_reload_conf()")
        // The server's processes take the setting a moment later: it holds once a commit waits
        // (of a transaction that wrote WAL: a message no stream here asks for).
        for _ in 0..<100 {
            let probe = WaitingCommit(
                dsn: cluster.dsn(), "SELECT pg_logical_emit_message(true, 'pgrepl.test.probe', '')")
            _ = eventually { probe.pid.withLock { $0 } != nil }
            Thread.sleep(forTimeInterval: 0.3)
            let waits = !probe.hasReturned
            try probe.release(cluster)
            if waits { return }
        }
        throw TestSetupError("synchronous_standby_names did not make commits wait")
    }

    private let pid = Locked<String?>(nil)
    private let done = Locked<(any Error)??>(nil)

    init(dsn: String, _ statement: String) {
        let (pid, done) = (pid, done)
        let thread = Thread {
            do {
                let connection = try PGConnection(dsn)
                defer { connection.close() }
                let own = try connection.execute("SELECT pg_backend_pid()").rows.first?.first ?? nil
                pid.withLock { $0 = own }
                try connection.execute(statement)
                done.withLock { $0 = .some(nil) }
            } catch {
                done.withLock { $0 = .some(error) }
            }
        }
        thread.start()
    }

    /// Whether the commit has returned (the wait was cancelled, or the statement failed).
    var hasReturned: Bool { done.withLock { $0 != nil } }

    /// Ends the commit's wait: it was committed locally and becomes visible.
    func release(_ cluster: LocalCluster) throws {
        #expect(eventually { pid.withLock { $0 } != nil })
        let backend = try #require(pid.withLock { $0 })
        try cluster.psql("SELECT pg_cancel_backend(\(backend))")
        #expect(eventually { hasReturned }, "the waiting commit did not return")
    }
}
