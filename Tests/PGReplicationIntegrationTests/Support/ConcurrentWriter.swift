import Foundation
import PGReplication
import PGSupport
import Testing

/// Writes on a thread of its own, round after round, until stopped: the concurrent writes of
/// the snapshot and backfill tests.
final class ConcurrentWriter: Sendable {
    private let writing = Locked(true)
    private let outcome = Locked<(rounds: Int, error: (any Error)?)>((0, nil))
    private let done = DispatchSemaphore(value: 0)

    /// Starts writing: `write` gets the connection and the round's number.
    init(dsn: String, pause: useconds_t = 2_000, _ write: @escaping @Sendable (PGConnection, Int) throws -> Void) {
        let (writing, outcome, done) = (writing, outcome, done)
        Thread {
            defer { done.signal() }
            do {
                let connection = try PGConnection(dsn)
                defer { connection.close() }
                while writing.withLock({ $0 }) {
                    try write(connection, outcome.withLock { $0.rounds })
                    outcome.withLock { $0.rounds += 1 }
                    usleep(pause)
                }
            } catch {
                outcome.withLock { $0.error = error }
            }
        }.start()
    }

    /// The rounds the server accepted so far: a test reads it at both ends of the phase under
    /// test to check that writes landed in it.
    var rounds: Int { outcome.withLock { $0.rounds } }

    /// Stops the writer and checks that it wrote without an error.
    func stop(sourceLocation: SourceLocation = #_sourceLocation) {
        writing.withLock { $0 = false }
        done.wait()
        done.signal()
        let (rounds, error) = outcome.withLock { $0 }
        #expect(
            error == nil && rounds > 10, "the writer wrote \(rounds) rounds: \(String(describing: error))",
            sourceLocation: sourceLocation)
    }
}
