import Foundation

/// A value behind a lock, shared between threads; a thread may also wait for the value to change.
///
/// Built on `NSCondition` (a pthread mutex and condition variable) rather than
/// `Synchronization.Mutex`, whose Linux implementation ThreadSanitizer cannot see into: with it,
/// every correctly locked access shows up as a data race in `swift test --sanitize=thread`.
///
/// `@unchecked Sendable`: the value is only reached with the lock held.
package final class Locked<Value>: @unchecked Sendable {
    @usableFromInline let condition = NSCondition()
    /// Reached only with the lock held, so the dynamic exclusivity check is left out.
    @exclusivity(unchecked) @usableFromInline var value: Value

    package init(_ value: Value) { self.value = value }

    /// Runs `body` with the lock held and the value lent to it. Inlinable, so that hot paths
    /// across modules pay for the lock, not for a generic call.
    @inlinable
    package func withLock<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure)
        -> Result
    {
        condition.lock()
        defer { condition.unlock() }
        return try body(&value)
    }

    /// Waits, with the lock released meanwhile, until `isReady` holds or `deadline` passes, then
    /// runs `body` with the lock held; `body` learns whether the value is ready. Changes that
    /// may make a waiter ready are announced with ``broadcast()``.
    package func withLock<Result, Failure: Error>(
        when isReady: (inout Value) -> Bool, deadline: Date? = nil,
        _ body: (inout Value, _ ready: Bool) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        condition.lock()
        defer { condition.unlock() }
        var ready = isReady(&value)
        while !ready {
            if let deadline {
                guard condition.wait(until: deadline) else { break }
            } else {
                condition.wait()
            }
            ready = isReady(&value)
        }
        return try body(&value, ready)
    }

    /// Wakes every thread waiting in ``withLock(when:deadline:_:)`` to check its condition again.
    package func broadcast() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }
}
