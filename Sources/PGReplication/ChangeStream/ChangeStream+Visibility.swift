import Foundation
import Logging
import PGOutput
import PGSupport

extension ChangeStream {
    /// Delivery only once visible (``Configuration/visibility``): a transaction reaches the
    /// handler only once a new snapshot on the server sees it.
    ///
    /// A commit reaches the stream before other sessions can see it: while it waits for a
    /// synchronous standby (`synchronous_standby_names`), and for a moment after its WAL is
    /// flushed, before the server marks it finished. A consumer that reacts to a change by reading
    /// the row back (a cache, a search index, "send the email for this order") then reads the old
    /// row. With the gate, the stream holds each committed transaction before its first event (a
    /// transaction, or the begin of one delivered in chunks) until the server shows it visible; a
    /// streamed transaction's changes come before its commit, so it is held at its commit, and a
    /// prepared one at its `COMMIT PREPARED`:
    /// - On a primary, one `pg_current_snapshot()` on an ordinary connection settles every
    ///   transaction that completed before it, so under load a snapshot taken for one commit
    ///   lets the ones decoded after it through without another query. A commit that waits is
    ///   asked about again, 1 ms later at first, then up to every 50 ms.
    /// - On a standby (``dsn`` naming a server in recovery), a commit waits until the standby has
    ///   replayed it (`pg_last_wal_replay_lsn()` past its commit record).
    ///
    /// While a commit waits, nothing after it is delivered (the order stays the commit order),
    /// the stream stays connected, and one that waits longer than ``warnAfter`` is logged, once.
    /// The gate's connection failing is a lost connection: the stream reconnects.
    public struct VisibilityGate: Hashable, Sendable {
        /// The server whose new snapshots must see a transaction; nil: the stream's
        /// (``Configuration/dsn``). A standby's, to deliver once the standby the consumer reads
        /// from has replayed it.
        public var dsn: String?
        /// How long a commit may wait before a warning says so.
        public var warnAfter: Duration

        public init(dsn: String? = nil, warnAfter: Duration = .seconds(5)) {
            self.dsn = dsn
            self.warnAfter = warnAfter
        }
    }
}

/// The visibility gate of one replication connection: its ordinary connection (opened at the
/// first commit), and what the server last showed.
final class VisibilityCheck {
    private let settings: ChangeStream.VisibilityGate
    private let context: StreamContext
    private let interruption: Interruption
    private let sleep: (Double) -> Void
    private var connection: PGConnection?
    private var inRecovery = false
    /// The last snapshot taken on a primary.
    private var snapshot: ServerSnapshot?
    /// The last replay position read on a standby.
    private var replayed: LSN = 0

    init(
        _ settings: ChangeStream.VisibilityGate, context: StreamContext, interruption: Interruption,
        sleep: @escaping (Double) -> Void
    ) {
        self.settings = settings
        self.context = context
        self.interruption = interruption
        self.sleep = sleep
    }

    deinit { connection?.close() }

    /// The transaction and its commit record's position, when `event` is the first of a
    /// committed transaction (a transaction, the begin of one delivered in chunks) or commits
    /// one (a streamed transaction's commit, a `COMMIT PREPARED`); nil for any other event.
    static func commit(of event: PGChangeEvent) -> (xid: UInt32, commitLSN: LSN)? {
        switch event {
        case .begin(let begin):
            // A streamed transaction's begin comes before its commit, a prepared one's before
            // its prepare: they wait at their commit.
            return begin.isStreamed || begin.isPrepared ? nil : (begin.xid, begin.finalLSN)
        case .transaction(let transaction), .commit(let transaction):
            if case .prepare = transaction.kind { return nil }
            return (transaction.xid, transaction.commitLSN)
        case .commitPrepared(let commit):
            return (commit.xid, commit.commitLSN)
        default:
            return nil
        }
    }

    /// Returns once the server shows the committed transaction `xid` (its commit record at
    /// `commitLSN`) visible; throws when the stream is stopped meanwhile, or the server cannot be
    /// asked.
    func waitUntilVisible(xid: UInt32, commitLSN: LSN) throws {
        if isVisible(xid: xid, commitLSN: commitLSN) { return }
        let started = POSIX.monotonicNow()
        var delay = 0.001
        var warned = false
        while true {
            try refresh()
            if isVisible(xid: xid, commitLSN: commitLSN) { return }
            if interruption.isRequested() { throw Interruption.stopped("waiting until a transaction is visible") }
            if !warned, POSIX.monotonicNow() - started >= settings.warnAfter.timeInterval {
                warned = true
                context.logger.warning(
                    "a committed transaction is not visible yet, and the stream waits for it (does its commit wait for a synchronous standby?)",
                    metadata: [
                        "pgrepl.slot": "\(context.configuration.slot)", "pgrepl.xid": "\(xid)",
                        "pgrepl.commit_lsn": "\(commitLSN)",
                    ])
            }
            sleep(delay)
            delay = min(delay * 2, 0.05)
        }
    }

    /// A standby's replay position is the end of the last record it replayed: past the commit
    /// record's start, it replayed the commit.
    private func isVisible(xid: UInt32, commitLSN: LSN) -> Bool {
        inRecovery ? replayed > commitLSN : snapshot?.sees(xid) == true
    }

    /// Asks the server once: a new snapshot, or the standby's replay position.
    private func refresh() throws {
        do {
            let sql: PGConnection
            if let connection {
                sql = connection
            } else {
                sql = try PGConnection(
                    settings.dsn ?? context.configuration.dsn, logger: context.logger, interruption: interruption)
                connection = sql
                inRecovery = try sql.execute("SELECT pg_is_in_recovery()").scalar == "t"
            }
            if inRecovery {
                guard let lsn = try sql.execute("SELECT pg_last_wal_replay_lsn()").scalar.flatMap({ try? LSN($0) })
                else {
                    throw PGError(.data, "pg_last_wal_replay_lsn() gave no position the visibility gate can read")
                }
                replayed = lsn
            } else {
                snapshot = try sql.currentSnapshot()
            }
        } catch {
            connection?.close()
            connection = nil
            throw error
        }
    }
}

extension PGConnection {
    /// The server's snapshot now (`pg_current_snapshot()`); in a REPEATABLE READ transaction, the
    /// one that transaction reads with. The visibility gate and the backfill's rule compare
    /// delivered transactions with it.
    func currentSnapshot() throws -> ServerSnapshot {
        guard let snapshot = try execute("SELECT pg_current_snapshot()::text").scalar.flatMap(ServerSnapshot.init)
        else {
            throw PGError(.data, "pg_current_snapshot() gave no snapshot that can be read")
        }
        return snapshot
    }
}
