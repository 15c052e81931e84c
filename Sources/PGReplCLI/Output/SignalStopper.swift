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
    private var actions: [SignalAction] = []

    init(signals: [Int32] = [SIGINT, SIGTERM]) {
        actions = signals.map { number in SignalAction(number) { [weak self] in self?.fire(number) } }
    }

    /// Restores the signals' default action.
    func cancel() {
        for action in actions { action.cancel() }
        actions.removeAll()
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
        // A parent may have started us with the signal blocked (threads of dispatch-based
        // runtimes block signals, and a child inherits the mask): unblock it on this thread.
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
