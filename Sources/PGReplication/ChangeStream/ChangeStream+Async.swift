import Foundation
import PGOutput

extension ChangeStream {
    /// The events as an `AsyncSequence`.
    ///
    /// A dedicated thread (not Swift's cooperative pool) runs the replication connection and fills
    /// a buffer of ``Configuration/bufferSize`` events; when the buffer is full the thread waits,
    /// the cursor stops reading, and TCP holds the server back, while status updates keep the
    /// connection alive. `next()` never blocks a thread: it suspends until an event arrives.
    ///
    /// With automatic acknowledgement, an event is acknowledged when the loop asks for the next
    /// one, that is, after the loop body handled it. Leaving the loop (or cancelling the task)
    /// stops the stream; the event in hand when leaving is not acknowledged.
    ///
    /// ```swift
    /// for try await event in stream.events() {
    ///     if case .transaction(let transaction) = event { try await store(transaction) }
    /// }
    /// ```
    public func events() -> Events { Events(stream: self) }

    /// The async sequence of a ``ChangeStream``; iterate it once.
    public struct Events: AsyncSequence, Sendable {
        public typealias Element = PGChangeEvent
        let stream: ChangeStream

        public func makeAsyncIterator() -> Iterator {
            Iterator(lifetime: IteratorLifetime(channel: EventChannel(stream: stream)))
        }

        public struct Iterator: AsyncIteratorProtocol {
            let lifetime: IteratorLifetime

            public mutating func next() async throws -> PGChangeEvent? {
                try await lifetime.channel.next()
            }
        }
    }
}

@available(*, unavailable, message: "an iterator has one consumer")
extension ChangeStream.Events.Iterator: Sendable {}

/// Stops the stream when the iterator goes away (the loop was left).
final class IteratorLifetime: Sendable {
    let channel: EventChannel
    init(channel: EventChannel) { self.channel = channel }
    deinit { channel.cancel() }
}

/// The bounded buffer between the I/O thread and the async consumer.
///
/// `@unchecked Sendable`: all mutable state is guarded by `lock`.
final class EventChannel: @unchecked Sendable {
    let stream: ChangeStream
    private let lock = NSCondition()
    private var buffer: [PGChangeEvent] = []
    private var head = 0
    private var finished: Result<Void, any Error>?
    private var waiter: CheckedContinuation<PGChangeEvent?, any Error>?
    private var cancelled = false
    private var started = false
    private var handedOut: LSN?

    init(stream: ChangeStream) { self.stream = stream }

    private var capacity: Int { max(1, stream.configuration.bufferSize) }

    func next() async throws -> PGChangeEvent? {
        if stream.configuration.acknowledgement == .automatic, let lsn = takeHandedOut() {
            stream.acknowledge(lsn)
        }
        startIfNeeded()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<PGChangeEvent?, any Error>) in
                lock.lock()
                if head < buffer.count {
                    let event = buffer[head]
                    head += 1
                    if head == buffer.count {
                        buffer.removeAll(keepingCapacity: true)
                        head = 0
                    }
                    handedOut = event.acknowledgeLSN ?? handedOut
                    lock.broadcast()
                    lock.unlock()
                    continuation.resume(returning: event)
                } else if let finished {
                    lock.unlock()
                    continuation.resume(with: finished.map { nil })
                } else if cancelled || Task.isCancelled {
                    lock.unlock()
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiter = continuation
                    lock.unlock()
                }
            }
        } onCancel: {
            cancel()
        }
    }

    private func takeHandedOut() -> LSN? {
        lock.lock()
        defer { lock.unlock() }
        let lsn = handedOut
        handedOut = nil
        return lsn
    }

    private func startIfNeeded() {
        lock.lock()
        let start = !started
        started = true
        lock.unlock()
        guard start else { return }
        let thread = Thread { [self] in
            let result = Result { try stream.runLoop(acknowledgeAfterHandler: false) { event in try push(event) } }
            finish(result)
        }
        thread.name = "pgrepl-changestream"
        thread.start()
    }

    /// Called on the I/O thread; waits while the buffer is full.
    private func push(_ event: PGChangeEvent) throws {
        lock.lock()
        if let waiter {
            self.waiter = nil
            handedOut = event.acknowledgeLSN ?? handedOut
            lock.unlock()
            waiter.resume(returning: event)
            return
        }
        while buffer.count - head >= capacity, !cancelled { lock.wait() }
        if cancelled {
            lock.unlock()
            throw CancellationError()
        }
        buffer.append(event)
        lock.unlock()
    }

    private func finish(_ result: Result<Void, any Error>) {
        lock.lock()
        if finished == nil { finished = result }
        let waiter = self.waiter
        self.waiter = nil
        let outcome = finished ?? result
        lock.unlock()
        waiter?.resume(with: outcome.map { nil })
    }

    func cancel() {
        stream.stop()
        lock.lock()
        cancelled = true
        lock.broadcast()
        let waiter = self.waiter
        self.waiter = nil
        lock.unlock()
        waiter?.resume(throwing: CancellationError())
    }
}
