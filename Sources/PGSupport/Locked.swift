import Foundation

/// A value behind a lock, shared between threads.
///
/// Built on `NSLock` (a pthread mutex) rather than `Synchronization.Mutex`, whose Linux
/// implementation ThreadSanitizer cannot see into: with it, every correctly locked access shows up
/// as a data race in `swift test --sanitize=thread`.
///
/// `@unchecked Sendable`: the value is only reached through `withLock`.
package final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    package init(_ value: Value) { self.value = value }

    /// Runs `body` with the lock held and the value lent to it.
    package func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
