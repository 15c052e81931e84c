import Foundation
import Logging
import PGReplication
import PGSupport

/// The ordinary connection the encoders read catalog facts on (type names, keys, the server's
/// TimeZone), opened again when it is lost.
///
/// A server restart or a failover closes it while the replication connection reconnects on its
/// own; the first change that needs a fact afterwards (the first one after an `ALTER TABLE`)
/// would then end the stream. Instead, a statement that fails with a transient error
/// (``PGReplicationCore/PGError/isTransient``) is run again on a new connection, with the backoff
/// and budget of the stream's ``ChangeStream/ReconnectPolicy``; each attempt is a warning with its
/// cause.
final class CatalogConnection: CatalogQuerying {
    private let connect: () throws -> PGConnection
    private var connection: PGConnection?
    /// How long to wait between attempts, and how many or how long to try.
    private let policy: ChangeStream.ReconnectPolicy
    private let logger: Logger
    /// Whether to give up at once (the command is stopping).
    private let stopping: () -> Bool

    init(
        _ connection: PGConnection, policy: ChangeStream.ReconnectPolicy, logger: Logger = WarningLog.logger(),
        stopping: @escaping () -> Bool = { false }, connect: @escaping () throws -> PGConnection
    ) {
        self.connection = connection
        self.policy = policy
        self.logger = logger
        self.stopping = stopping
        self.connect = connect
    }

    deinit { connection?.close() }

    /// Runs `sql`, on a new connection when the current one was lost.
    @discardableResult
    func execute(_ sql: String) throws -> PGConnection.QueryResult {
        var attempt = 0
        let start = ContinuousClock.now
        while true {
            do {
                let current = try connection ?? connect()
                connection = current
                return try current.execute(sql)
            } catch let error as PGError where error.isTransient {
                connection?.close()
                connection = nil
                attempt += 1
                // A stop asked for while the connection is lost is a stop, not a failure.
                if stopping() { throw CLIError(.interrupted, "", "stopped while the catalog connection was lost") }
                guard policy.exhausted(attempt: attempt, failingFor: ContinuousClock.now - start) == nil else {
                    throw error
                }
                let delay = policy.delay(attempt: attempt)
                logger.warning(
                    "the catalog connection was lost; connecting again",
                    metadata: [
                        "pgrepl.error": "\(error)", "pgrepl.attempt": "\(attempt)",
                        "pgrepl.delay": "\(String(format: "%.2f", delay.timeInterval))",
                    ])
                Thread.sleep(forTimeInterval: delay.timeInterval)
            }
        }
    }
}
