import Foundation
import Logging
import Metrics
import PGReplication
import PGSupport

/// A change stream running on its own thread, its events gathered for a test to wait on.
final class RunningStream: Sendable {
    let stream: ChangeStream
    private let events = Locked<[PGChangeEvent]>([])
    private let failure = Locked<(any Error)?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(
        _ configuration: ChangeStream.Configuration, logger: Logger? = nil, metricsFactory: (any MetricsFactory)? = nil,
        handler: @escaping @Sendable (PGChangeEvent) -> Void = { _ in }
    ) {
        stream = ChangeStream(configuration, logger: logger, metricsFactory: metricsFactory)
        let (stream, events, failure, done) = (stream, events, failure, done)
        Thread {
            do {
                try stream.consume { event in
                    handler(event)
                    events.withLock { $0.append(event) }
                }
            } catch {
                failure.withLock { $0 = error }
            }
            done.signal()
        }.start()
    }

    /// What the handler got so far.
    var received: [PGChangeEvent] { events.withLock { $0 } }
    /// How `run` ended, once it did.
    var error: (any Error)? { failure.withLock { $0 } }

    /// Waits until `condition` holds for the events so far, or `seconds` pass; whether it held.
    @discardableResult
    func wait(seconds: Double = 30, until condition: ([PGChangeEvent]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if events.withLock({ condition($0) }) { return true }
            if done.wait(timeout: .now()) == .success {
                done.signal()
                return events.withLock { condition($0) }
            }
            usleep(5_000)
        }
        return false
    }

    /// Waits until the stream is connected (its slot has a consistent point).
    @discardableResult
    func waitConnected(seconds: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if stream.metrics.isConnected { return true }
            usleep(5_000)
        }
        return false
    }

    /// Waits for `run` to return (after the stream ended by itself, or `stop()`).
    @discardableResult
    func waitEnded(seconds: Double = 30) -> Bool {
        guard done.wait(timeout: .now() + seconds) == .success else { return false }
        done.signal()
        return true
    }

    /// Stops the stream and waits for `run` to return.
    @discardableResult
    func stop(seconds: Double = 30) -> Bool {
        stream.stop()
        return waitEnded(seconds: seconds)
    }
}

extension PGChange {
    /// The text of column `name` of the new row (inserts and updates), nil otherwise; a column
    /// that is not text (or absent) is nil too, which the callers' comparisons then fail on.
    func newText(_ name: String) -> String? {
        switch self {
        case .insert(_, let row), .update(_, _, _, let row): try? row[name, as: String.self]
        default: nil
        }
    }
}
