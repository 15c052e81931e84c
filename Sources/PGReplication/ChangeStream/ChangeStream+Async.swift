import Foundation
import PGOutput
import PGSupport

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
final class EventChannel: Sendable {
    private struct State {
        var buffer: [PGChangeEvent] = []
        var head = 0
        var finished: Result<Void, any Error>?
        var waiter: CheckedContinuation<PGChangeEvent?, any Error>?
        var cancelled = false
        var started = false
        var handedOut: LSN?

        var count: Int { buffer.count - head }

        mutating func takeFirst() -> PGChangeEvent {
            let event = buffer[head]
            head += 1
            if head == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                head = 0
            }
            return event
        }
    }

    let stream: ChangeStream
    private let state = Locked(State())

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
                let outcome = state.withLock { state -> Result<PGChangeEvent?, any Error>? in
                    if state.count > 0 {
                        let event = state.takeFirst()
                        state.handedOut = event.acknowledgeLSN ?? state.handedOut
                        return .success(event)
                    }
                    if let finished = state.finished { return finished.map { nil } }
                    if state.cancelled || Task.isCancelled { return .failure(CancellationError()) }
                    state.waiter = continuation
                    return nil
                }
                if let outcome {
                    // A slot in the buffer came free: the I/O thread may go on.
                    state.broadcast()
                    continuation.resume(with: outcome)
                }
            }
        } onCancel: {
            cancel()
        }
    }

    private func takeHandedOut() -> LSN? {
        state.withLock { state in
            defer { state.handedOut = nil }
            return state.handedOut
        }
    }

    private func startIfNeeded() {
        let start = state.withLock { state in
            defer { state.started = true }
            return !state.started
        }
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
        let capacity = self.capacity
        let waiter = try state.withLock(when: { $0.waiter != nil || $0.count < capacity || $0.cancelled }) {
            state, _ throws(CancellationError) -> CheckedContinuation<PGChangeEvent?, any Error>? in
            if let waiter = state.waiter {
                state.waiter = nil
                state.handedOut = event.acknowledgeLSN ?? state.handedOut
                return waiter
            }
            if state.cancelled { throw CancellationError() }
            state.buffer.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    private func finish(_ result: Result<Void, any Error>) {
        let (waiter, outcome) = state.withLock { state in
            if state.finished == nil { state.finished = result }
            defer { state.waiter = nil }
            return (state.waiter, state.finished ?? result)
        }
        waiter?.resume(with: outcome.map { nil })
    }

    func cancel() {
        stream.stop()
        let waiter = state.withLock { state in
            state.cancelled = true
            defer { state.waiter = nil }
            return state.waiter
        }
        state.broadcast()
        waiter?.resume(throwing: CancellationError())
    }
}
