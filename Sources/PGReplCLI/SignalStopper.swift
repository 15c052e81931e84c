import Dispatch
import Foundation
import PGReplication
import PGSupport

/// Turns SIGINT and SIGTERM into a clean stop of a replication stream: while it exists, the
/// signals no longer kill the process; they call the attached stop action (a
/// ``ReplicationStopHandle``, or a `ChangeStream`'s `stop()`; the one attached later, when a
/// signal came before any was).
final class SignalStopper: @unchecked Sendable {
    private struct State {
        var action: (@Sendable () -> Void)?
        var received: Int32?
    }

    private let state = Locked(State())
    private var sources: [any DispatchSourceSignal] = []
    private let signals: [Int32]

    init(signals: [Int32] = [SIGINT, SIGTERM]) {
        self.signals = signals
        // A parent may have started us with the signals blocked (threads of dispatch-based
        // runtimes block them, and a child inherits the mask): unblock them on this thread.
        var mask = sigset_t()
        sigemptyset(&mask)
        for number in signals { sigaddset(&mask, number) }
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.fire(number) }
            source.resume()
            sources.append(source)
        }
    }

    /// Restores the signals' default action.
    func cancel() {
        for source in sources { source.cancel() }
        sources.removeAll()
        for number in signals { signal(number, SIG_DFL) }
    }

    deinit { cancel() }

    private func fire(_ number: Int32) {
        let action = state.withLock { state in
            if state.received == nil { state.received = number }
            return state.action
        }
        action?()
    }

    /// The first signal received, if any.
    var signalReceived: Int32? { state.withLock { $0.received } }

    /// Stops through `handle` from now on, and at once when a signal already came. Attach it
    /// after START (a START forgets stop requests made before it).
    func attach(_ handle: ReplicationStopHandle) {
        attach { handle.stop() }
    }

    /// Calls `stop` on a signal from now on, and at once when a signal already came.
    func attach(_ stop: @escaping @Sendable () -> Void) {
        let already = state.withLock { state in
            state.action = stop
            return state.received != nil
        }
        if already { stop() }
    }
}

/// Runs an action on a signal (on a dispatch queue) instead of its default effect, until
/// cancelled.
final class SignalAction {
    private let source: any DispatchSourceSignal
    private let number: Int32

    init(_ number: Int32, _ action: @escaping @Sendable () -> Void) {
        self.number = number
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, number)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        signal(number, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler(handler: action)
        source.resume()
    }

    func cancel() {
        source.cancel()
        signal(number, SIG_DFL)
    }
}
