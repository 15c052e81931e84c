import Dispatch

/// Runs a closure every `interval` seconds on a global queue until cancelled.
/// `@unchecked`: the timer is set once, and a dispatch source may be cancelled from any thread.
final class Periodic: @unchecked Sendable {
    private let timer: any DispatchSourceTimer

    init(every interval: Double, _ body: @escaping @Sendable () -> Void) {
        timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler(handler: body)
        timer.resume()
    }

    func cancel() { timer.cancel() }
}
