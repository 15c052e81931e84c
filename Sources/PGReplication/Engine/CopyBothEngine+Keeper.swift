import Foundation

extension CopyBothEngine {
    // MARK: - The keeper thread

    /// Starts the thread that keeps the stream alive while a consumer callback runs.
    func startKeeper() {
        withLock {
            keeperRunning = true
            keeperExited = false
        }
        let thread = Thread { [self] in keeperLoop() }
        thread.name = "pgrepl-keeper"
        thread.start()
    }

    /// Stops the keeper thread and waits for it to finish.
    func stopKeeper() {
        withLock { keeperRunning = false }
        io.broadcast()
        io.withLock(when: { _ in keeperExited }) { _, _ in }
    }

    /// The consumer came back from its callback.
    func consumerReturned() { withLock { busySince = nil } }

    private func keeperLoop() {
        var running = true
        while running {
            running = io.withLock(
                when: { _ in !keeperRunning }, deadline: Date(timeIntervalSinceNow: Self.keeperTick)
            ) { _, stopping in
                guard !stopping else {
                    keeperExited = true
                    return false
                }
                if isStreaming, deferredError == nil, let since = busySince,
                    POSIX.monotonicNow() - since >= Self.keeperTick
                {
                    do {
                        try serviceWhileBusyLocked()
                    } catch {
                        deferredError = error
                    }
                }
                return true
            }
        }
        io.broadcast()
    }

    /// While the consumer is busy: read what has arrived (answering keepalives, stashing data up
    /// to a bound), and send status updates on time. With the stash full, reading stops (the
    /// server feels TCP backpressure) and status updates go out often enough for the server's
    /// `wal_sender_timeout`, which it checks against any message from the client.
    private func serviceWhileBusyLocked() throws {
        if let held = heldKeepalive {
            heldKeepalive = nil
            _ = try receiveLocked(held, now: POSIX.monotonicNow())
            guard isStreaming else { return }
        }
        if stashBytes < Self.stashLimit {
            guard pq.consumeInput() else { throw failLocked(PGError.connectionFailure(pq, while: "reading")) }
            read: while stashBytes < Self.stashLimit, isStreaming {
                switch pq.getCopyData() {
                case .data(let buffer):
                    if let header = try receiveLocked(buffer, now: POSIX.monotonicNow()) {
                        stash.append(Frame(buffer: buffer, header: header))
                        stashBytes += buffer.count
                        ioTimestamp = Date()
                    }
                case .wouldBlock: break read
                case .done:
                    _ = try endOfCopyLocked()
                    break read
                case .failed: throw failLocked(PGError.connectionFailure(pq, while: "reading"))
                }
            }
        }
        guard isStreaming else { return }
        var heartbeat: Double?
        if stashBytes >= Self.stashLimit {
            let quarter = (senderTimeout ?? 0) > 0 ? (senderTimeout ?? 0) / 4 : 1.0
            heartbeat = max(quarter, Self.keeperTick)
        }
        try feedbackLocked(.tick(heartbeat: heartbeat))
    }
}
