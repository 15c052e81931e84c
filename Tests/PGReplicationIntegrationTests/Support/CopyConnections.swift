import PGReplication
import PGSupport

/// Counts the connections that ran a `COPY (…) TO STDOUT` (running, or done and waiting for the
/// next), sampled from a handler: the most seen is how many readers a snapshot or a backfill used.
final class CopyConnections: Sendable {
    private let observer: Locked<PGConnection>
    private let seen = Locked(0)

    init(dsn: String) throws { observer = Locked(try PGConnection(dsn)) }

    /// Counts them now.
    func sample() {
        let count = observer.withLock { connection in
            try? connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (%' AND pid <> pg_backend_pid()"
            ).scalar
        }
        seen.withLock { $0 = max($0, Int(count ?? "") ?? 0) }
    }

    /// The most counted by a sample.
    var most: Int { seen.withLock { $0 } }
}
