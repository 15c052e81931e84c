import Foundation
import PGOutput
import PGSupport
import ServiceLifecycle

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
    ///
    /// With the stream running as a `Service` (``run()``), the same events come out here: run
    /// the stream in a `ServiceGroup` and iterate `events()` in another task.
    public func events() -> Events { Events(stream: self) }

    /// The async sequence of a ``ChangeStream``; iterate it once.
    public struct Events: AsyncSequence, Sendable {
        public typealias Element = PGChangeEvent
        let stream: ChangeStream

        public func makeAsyncIterator() -> Iterator {
            Iterator(lifetime: IteratorLifetime(stream: stream))
        }

        public struct Iterator: AsyncIteratorProtocol {
            let lifetime: IteratorLifetime

            public mutating func next() async throws -> PGChangeEvent? {
                try await lifetime.stream.channel.next(lifetime.stream)
            }
        }
    }
}

@available(*, unavailable, message: "an iterator has one consumer")
extension ChangeStream.Events.Iterator: Sendable {}

/// Stops the stream when the iterator goes away (the loop was left).
final class IteratorLifetime: Sendable {
    let stream: ChangeStream
    init(stream: ChangeStream) { self.stream = stream }
    deinit { stream.channel.cancel(stream) }
}

/// The bounded buffer between the I/O thread and the async consumer; one per stream.
final class EventChannel: Sendable {
    private struct State {
        var buffer: [PGChangeEvent] = []
        var head = 0
        var finished: Result<Void, any Error>?
        var waiter: CheckedContinuation<PGChangeEvent?, any Error>?
        var cancelled = false
        var started = false
        var handedOut: LSN?
        /// The spilled changes of the transaction handed out last, checked for a read failure
        /// before it is acknowledged.
        var handedOutChanges: PGChangeList?
        /// The consumer has an event and has not asked for the next one yet.
        var holding = false
        /// Graceful shutdown: the consumer gets no new event; the stream stops once it is done
        /// with the one it holds.
        var draining = false
        /// Waiting for the stream to end (``ChangeStream/run()``).
        var finishWaiters: [CheckedContinuation<Void, any Error>] = []

        var count: Int { buffer.count - head }
        /// The estimated bytes of changes the buffered events hold in memory.
        var bytes = 0

        mutating func handOut(_ event: PGChangeEvent) {
            handedOut = event.acknowledgeLSN ?? handedOut
            if case .transaction(let transaction) = event, transaction.changes.isSpilled {
                handedOutChanges = transaction.changes
            } else {
                handedOutChanges = nil
            }
            holding = true
        }

        mutating func takeFirst() -> PGChangeEvent {
            let event = buffer[head]
            bytes -= EventChannel.memoryBytes(of: event)
            head += 1
            if head == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                head = 0
            }
            return event
        }
    }

    private let state = Locked(State())

    /// The estimated bytes of changes an event holds in memory: a transaction's in-memory part
    /// (what the stream's ``ChangeStream/Configuration/transactionMemoryLimit`` counts).
    static func memoryBytes(of event: PGChangeEvent) -> Int {
        if case .transaction(let transaction) = event { transaction.changes.memoryBytes } else { 0 }
    }

    /// What is left of `budget` beside the buffered events: a transaction the I/O thread starts
    /// to assemble may keep that much in memory; the rest of it spills.
    func memoryLeft(of budget: Int) -> Int { budget - state.withLock { $0.bytes } }

    /// The stream it belongs to is passed in: a stored one would be a reference cycle.
    func next(_ stream: ChangeStream) async throws -> PGChangeEvent? {
        // A spilled transaction whose file could not be read back in full was not handled: the
        // stream ends without acknowledging it.
        if let failure = state.withLock({ $0.handedOutChanges?.readFailure }) {
            cancel(stream)
            throw failure
        }
        if stream.configuration.acknowledgement == .automatic, let lsn = takeHandedOut() {
            stream.acknowledge(lsn)
        }
        let draining = state.withLock { state in
            state.holding = false
            return state.draining
        }
        if draining {
            // What the consumer handled is acknowledged: the stream's stop reports it, then ends
            // the stream with CopyDone.
            stopForShutdown(stream)
            return nil
        }
        startIfNeeded(stream)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<PGChangeEvent?, any Error>) in
                let outcome = state.withLock { state -> Result<PGChangeEvent?, any Error>? in
                    // A graceful shutdown that began meanwhile hands out nothing more.
                    if state.draining { return .success(nil) }
                    if state.count > 0 {
                        let event = state.takeFirst()
                        state.handOut(event)
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
            cancel(stream)
        }
    }

    private func takeHandedOut() -> LSN? {
        state.withLock { state in
            defer { state.handedOut = nil }
            return state.handedOut
        }
    }

    private func startIfNeeded(_ stream: ChangeStream) {
        let start = state.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard start else { return }
        let thread = Thread { [self] in
            let capacity = max(1, stream.configuration.bufferSize)
            let result = Result {
                let budget = stream.configuration.transactionMemoryLimit
                try stream.runLoop(acknowledgeAfterHandler: false) { event in
                    try push(event, capacity: capacity, budget: budget)
                }
            }
            finish(result)
        }
        thread.name = "pgrepl-changestream"
        thread.start()
    }

    /// Called on the I/O thread; waits while the buffer is full.
    /// Waits while the buffer is full: `capacity` events, or (unless it is empty) no room for
    /// the event's bytes in `budget`.
    private func push(_ event: PGChangeEvent, capacity: Int, budget: Int) throws {
        let bytes = Self.memoryBytes(of: event)
        let waiter = try state.withLock(
            when: {
                $0.waiter != nil || ($0.count < capacity && ($0.bytes == 0 || $0.bytes + bytes <= budget))
                    || $0.cancelled || $0.draining
            }
        ) {
            state, _ throws(CancellationError) -> CheckedContinuation<PGChangeEvent?, any Error>? in
            if state.cancelled { throw CancellationError() }
            // Shutting down: what was not handed out is not acknowledged, and comes again.
            if state.draining { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                state.handOut(event)
                return waiter
            }
            state.buffer.append(event)
            state.bytes += bytes
            return nil
        }
        waiter?.resume(returning: event)
    }

    private func finish(_ result: Result<Void, any Error>) {
        let (waiter, outcome, finishWaiters) = state.withLock { state in
            if state.finished == nil { state.finished = result }
            defer {
                state.waiter = nil
                state.finishWaiters = []
            }
            return (state.waiter, state.finished ?? result, state.finishWaiters)
        }
        waiter?.resume(with: outcome.map { nil })
        for finishWaiter in finishWaiters { finishWaiter.resume(with: outcome) }
    }

    /// Starts the stream when nothing did yet and waits for it to end.
    func runUntilFinished(_ stream: ChangeStream) async throws {
        startIfNeeded(stream)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let finished = state.withLock { state -> Result<Void, any Error>? in
                if let finished = state.finished { return finished }
                state.finishWaiters.append(continuation)
                return nil
            }
            if let finished { continuation.resume(with: finished) }
        }
    }

    /// Graceful shutdown: no new event is handed out; the stream stops at once when the consumer
    /// holds none, else when it asks for the next one (after acknowledging the one it held).
    func drain(_ stream: ChangeStream) {
        let (stopNow, waiter) = state.withLock { state -> (Bool, CheckedContinuation<PGChangeEvent?, any Error>?) in
            state.draining = true
            guard !state.holding else { return (false, nil) }
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        state.broadcast()
        if stopNow { stopForShutdown(stream) }
        waiter?.resume(returning: nil)
    }

    private func stopForShutdown(_ stream: ChangeStream) {
        stream.stop()
        state.broadcast()
    }

    func cancel(_ stream: ChangeStream) {
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

// MARK: - Service

extension ChangeStream: Service {
    /// Runs the stream as a swift-service-lifecycle `Service`, until it fails, the task is
    /// cancelled, or graceful shutdown; its events come out of ``events()``.
    ///
    /// On graceful shutdown (SIGTERM in a `ServiceGroup` set up for it) the stream stops reading
    /// and hands out no new event. When the consumer asks for the next event, after handling the
    /// one it holds, the sequence ends; the stream then sends the last acknowledgement and
    /// CopyDone, and `run()` returns. Events read but not handed out are not acknowledged: the
    /// server sends them again to the next run.
    ///
    /// ```swift
    /// let stream = ChangeStream(configuration, logger: logger)
    /// let group = ServiceGroup(
    ///     configuration: .init(services: [.init(service: stream)], gracefulShutdownSignals: [.sigterm], logger: logger))
    /// try await withThrowingTaskGroup(of: Void.self) { tasks in
    ///     tasks.addTask { try await group.run() }
    ///     for try await event in stream.events() { try await apply(event) }
    /// }
    /// ```
    ///
    /// Cancelling the task stops the stream at once, without waiting for the consumer.
    public func run() async throws {
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await channel.runUntilFinished(self)
            } onGracefulShutdown: {
                self.channel.drain(self)
            }
        } onCancel: {
            self.channel.cancel(self)
        }
    }
}
