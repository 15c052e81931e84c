import Foundation
import Logging
import PGOutput

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a replication stream ended without an error.
public struct StreamEnd: Hashable, Sendable {
    public enum Reason: Hashable, Sendable {
        /// The server ended the stream (CopyDone, or the command completed, as in a fast shutdown
        /// or at the end of a physical timeline).
        case serverEnded
        /// The client ended it with ``ReplicationCursor/stopReplication()``.
        case stopped
    }

    public var reason: Reason
    /// Physical streams at the end of a historic timeline: the next timeline.
    public var nextTimeline: UInt32?
    /// Physical streams at the end of a historic timeline: where the next timeline starts.
    public var nextTimelineStart: LSN?
}

/// The state of one START: feedback bookkeeping (psycopg2's rules F1–F5), the read algorithm and
/// the keeper thread that answers the server while a consumer callback runs.
///
/// Every member below `lock` is guarded by it, and the `PQConnection` is used only with the lock
/// held while the session streams, which is why the class may be `@unchecked Sendable`: the
/// keeper thread and the owner's thread never touch libpq at the same time. Since the lock
/// already serialises every access, the stored state opts out of Swift's dynamic exclusivity
/// checks (`@exclusivity(unchecked)`): they cost a tenth of a fast consumer's user time.
final class StreamSession: @unchecked Sendable {
    enum Phase {
        case streaming
        case ended(StreamEnd)
    }

    enum Outcome {
        case message(CopyDataBuffer, XLogDataHeader)
        case nothing
        case ended(StreamEnd)
    }

    /// The lock, and the keeper's alarm clock.
    let lock = NSCondition()
    let pq: PQConnection
    let logger: Logger
    let decode: Bool
    let command: String

    @exclusivity(unchecked) var phase: Phase = .streaming
    @exclusivity(unchecked) var statusInterval: Double
    @exclusivity(unchecked) var automaticFlush: Bool
    /// The server's `wal_sender_timeout` in seconds when it could be read (0 = disabled).
    let senderTimeout: Double?
    @exclusivity(unchecked) var receiveTimeout: Double?

    // Feedback state, reset by each START (psycopg2 keeps it across STARTs: pitfall S6).
    @exclusivity(unchecked) var writeLSN: LSN = 0
    @exclusivity(unchecked) var flushLSN: LSN = 0
    @exclusivity(unchecked) var applyLSN: LSN = 0
    @exclusivity(unchecked) var explicitlyFlushedLSN: LSN = 0
    @exclusivity(unchecked) var lastMessageDataStart: LSN = 0
    @exclusivity(unchecked) var walEnd: LSN = 0
    @exclusivity(unchecked) var highestWalEnd: LSN = 0
    @exclusivity(unchecked) var lastKeepalive: PrimaryKeepalive?
    /// The flush position of the last status update sent.
    @exclusivity(unchecked) var reportedFlushLSN: LSN = 0
    /// When set, a newly confirmed flush position is reported at once, or this many seconds after
    /// the previous status update when one went out less than that ago (so at most 1/interval
    /// updates a second), instead of on the next timed update. The change stream sets it, so a
    /// slot's `confirmed_flush_lsn` follows acknowledgements within milliseconds; cursors keep
    /// psycopg2's timing (nil).
    @exclusivity(unchecked) var promptFlushInterval: Double?
    /// Whether the owner's thread waits in `waitForInput`; with `promptFlushInterval`, a flush
    /// recorded from another thread then wakes it through `waker`.
    @exclusivity(unchecked) var waitingForInput = false
    @exclusivity(unchecked) var waker: StopFlag?
    @exclusivity(unchecked) var lastFeedback: Double = 0  // monotonic seconds; 0 = never, so the first read sends one (S4)
    @exclusivity(unchecked) var lastReceive: Double
    @exclusivity(unchecked) var ioTimestamp: Date
    @exclusivity(unchecked) var feedbackTimestamp = Date(timeIntervalSince1970: 0)

    // Frames the keeper read while the consumer was busy, delivered before anything newer.
    @exclusivity(unchecked) var stash: [(CopyDataBuffer, XLogDataHeader)?] = []
    /// A keepalive a batch read found behind data frames: handled at the next read, once the
    /// consumer saw those frames (``readBatchLocked(readSocket:limit:markBusy:into:)``).
    @exclusivity(unchecked) var heldKeepalive: CopyDataBuffer?
    @exclusivity(unchecked) var stashHead = 0
    @exclusivity(unchecked) var stashBytes = 0
    static let stashLimit = 16 << 20
    @exclusivity(unchecked) var deferredError: (any Error)?

    // Keeper thread control. `busySince`: since when the consumer has been busy with frames
    // handed to it (a batch), without coming back to read.
    @exclusivity(unchecked) var busySince: Double?
    @exclusivity(unchecked) var keeperRunning = false
    @exclusivity(unchecked) var keeperExited = true
    static let keeperTick = 0.1

    init(
        pq: PQConnection, logger: Logger, command: String, decode: Bool, statusInterval: Double, automaticFlush: Bool,
        senderTimeout: Double?, receiveTimeout: Double?
    ) {
        self.pq = pq
        self.logger = logger
        self.command = command
        self.decode = decode
        self.statusInterval = statusInterval
        self.automaticFlush = automaticFlush
        self.senderTimeout = senderTimeout
        self.receiveTimeout = receiveTimeout
        self.lastReceive = monotonicNow()
        self.ioTimestamp = Date()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    var isStreaming: Bool {
        if case .streaming = phase { return true }
        return false
    }

    // MARK: - Reading (lock held)

    /// A data frame read and booked, ready for the consumer.
    struct Frame {
        var buffer: CopyDataBuffer
        var header: XLogDataHeader
    }

    enum BatchOutcome {
        /// Frames were appended.
        case frames
        case nothing
        case ended(StreamEnd)
    }

    /// psycopg2's read algorithm: maybe send due feedback, then read at most one data message
    /// with at most one socket read. Frames the keeper stashed come first.
    ///
    /// With `readSocket: false` the socket is not read at all: only what libpq already buffered
    /// is returned.
    func readLocked(readSocket: Bool = true) throws -> Outcome {
        var frames: [Frame?] = []
        switch try readBatchLocked(readSocket: readSocket, limit: 1, markBusy: false, into: &frames) {
        case .frames:
            guard let frame = frames[0] else { return .nothing }
            return .message(frame.buffer, frame.header)
        case .nothing: return .nothing
        case .ended(let end): return .ended(end)
        }
    }

    /// The read algorithm for a batch: what `readLocked` does, but it takes up to `limit` data
    /// frames from what one socket read brought (and libpq had buffered) under one lock
    /// acquisition, with one clock reading.
    ///
    /// The order of events is psycopg2's: a keepalive found behind data frames of the batch is
    /// held (``heldKeepalive``) and handled at the next read, after the consumer saw those frames,
    /// so the F4 flush forwarding rule and F2 answers see what the consumer confirmed by then.
    /// A failure or the end of the copy found behind data frames is reported at the next read too,
    /// after the frames were delivered.
    ///
    /// With `markBusy`, ``busySince`` is set when frames are returned: the consumer is then busy
    /// with them, and the keeper answers the server if it does not come back for more in time.
    ///
    /// With `readSocket: false` the socket is not read: `consumeStream` passes it once a wake-up's
    /// data is used up, and polls or pauses instead: a consumer that keeps up with the server
    /// would otherwise pay a `recv` that finds nothing (EAGAIN) before every `poll`.
    func readBatchLocked(readSocket: Bool, limit: Int, markBusy: Bool, into frames: inout [Frame?]) throws -> BatchOutcome {
        busySince = nil
        if stashHead < stash.count {
            while stashHead < stash.count, frames.count < limit, let frame = stash[stashHead] {
                stash[stashHead] = nil
                stashHead += 1
                stashBytes -= frame.0.count
                frames.append(Frame(buffer: frame.0, header: frame.1))
            }
            if stashHead == stash.count {
                stash.removeAll(keepingCapacity: true)
                stashHead = 0
            }
            if markBusy { busySince = monotonicNow() }
            return .frames
        }
        if let error = deferredError {
            deferredError = nil
            throw error
        }
        guard case .streaming = phase else {
            if case .ended(let end) = phase { return .ended(end) }
            return .nothing
        }
        let now = monotonicNow()
        if let held = heldKeepalive {
            heldKeepalive = nil
            _ = try receiveLocked(held, now: nil)
        }
        if now >= lastFeedback + statusInterval || promptFlushDue(now: now) {
            try sendStatusUpdateLocked(replyRequested: false)
        }
        var consumed = !readSocket
        var received = false
        defer {
            if received {
                lastReceive = now
                ioTimestamp = Date()
            }
            if markBusy, !frames.isEmpty { busySince = now }
        }
        // Failures behind frames wait until the frames were delivered.
        func deferred(_ error: any Error) throws -> BatchOutcome {
            if frames.isEmpty { throw error }
            deferredError = error
            return .frames
        }
        while true {
            switch pq.getCopyData() {
            case .data(let buffer):
                consumed = true
                received = true
                if !frames.isEmpty, buffer.count > 0, buffer.pointer.pointee == CChar(UInt8(ascii: "k")) {
                    heldKeepalive = buffer
                    return .frames
                }
                do {
                    if let header = try receiveLocked(buffer, now: nil) {
                        frames.append(Frame(buffer: buffer, header: header))
                        if frames.count >= limit { return .frames }
                    }
                } catch {
                    return try deferred(error)
                }
            case .wouldBlock:
                if consumed { return frames.isEmpty ? .nothing : .frames }
                guard pq.consumeInput() else {
                    return try deferred(failLocked(PGError.connectionFailure(pq, while: "reading")))
                }
                consumed = true
            case .done:
                do {
                    let end = try endOfCopyLocked()
                    return frames.isEmpty ? .ended(end) : .frames
                } catch {
                    return try deferred(error)
                }
            case .failed:
                return try deferred(failLocked(PGError.connectionFailure(pq, while: "reading")))
            }
        }
    }

    /// Whether a prompt flush report (``promptFlushInterval``) should go out now.
    func promptFlushDue(now: Double) -> Bool {
        guard let interval = promptFlushInterval, flushLSN > reportedFlushLSN else { return false }
        return now >= lastFeedback + interval
    }

    /// Book-keeping for one received CopyData; returns the header of a data message, nil for a
    /// keepalive (already answered when it asked). With `now`, it also notes the receive time
    /// (batch reads note it once for the batch).
    private func receiveLocked(_ buffer: CopyDataBuffer, now: Double?) throws -> XLogDataHeader? {
        if let now {
            lastReceive = now
            ioTimestamp = Date()
        }
        let frame: ReplicationFrame
        do {
            frame = try ReplicationFrame.parse(buffer.bytes)
        } catch {
            throw failLocked(error)
        }
        switch frame {
        case .xLogData(let header):
            walEnd = header.walEnd
            highestWalEnd = max(highestWalEnd, header.walEnd)
            lastMessageDataStart = header.dataStart
            return header
        case .keepalive(let keepalive):
            walEnd = keepalive.walEnd
            highestWalEnd = max(highestWalEnd, keepalive.walEnd)
            lastKeepalive = keepalive
            // F4: move flush to the server's WAL end when everything delivered was confirmed.
            if automaticFlush, explicitlyFlushedLSN >= lastMessageDataStart, keepalive.walEnd > explicitlyFlushedLSN,
                keepalive.walEnd > flushLSN
            {
                flushLSN = keepalive.walEnd
            }
            // F2: answer at once when asked.
            if keepalive.replyRequested {
                try sendStatusUpdateLocked(replyRequested: false)
            }
            return nil
        }
    }

    /// The copy ended: the server sent CopyDone, completed the command, or failed.
    private func endOfCopyLocked() throws -> StreamEnd {
        var end = StreamEnd(reason: .serverEnded)
        let failure = try drainResultsLocked(into: &end, copyDoneSent: false)
        phase = .ended(end)
        pq.setNonblocking(false)
        if let failure {
            logger.debug("replication stream failed", metadata: ["pgrepl.error": "\(failure.message)"])
            throw failure
        }
        logger.debug("replication stream ended by the server")
        return end
    }

    /// Reads the results that follow the end of the copy until libpq has none: a physical
    /// stream's next-timeline row goes into `end`; the first error is returned. A CopyDone from
    /// the server is answered with ours unless we sent one already.
    private func drainResultsLocked(into end: inout StreamEnd, copyDoneSent: Bool) throws -> PGError? {
        var failure: PGError?
        var answeredCopyDone = copyDoneSent
        var completed = false
        while let result = pq.getResult() {
            switch result.status {
            case .copyIn where !answeredCopyDone:
                // The server sent CopyDone while we may still send: answer with ours.
                answeredCopyDone = true
                try putCopyEndLocked()
            case .copyIn, .copyOut, .copyBoth:
                continue
            case .tuplesOK:
                readNextTimeline(result, into: &end)
            case .commandOK, .emptyQuery:
                completed = true
            default:
                let error = PGError.from(result, connection: pq, command: command)
                // A server that completed the stream and then exits (a fast shutdown sends
                // CommandComplete and closes the socket) ended it cleanly.
                if completed, error.connectionLost, error.sqlState == nil { break }
                if failure == nil { failure = error }
            }
            if !pq.isOK { break }
        }
        return failure
    }

    func readNextTimeline(_ result: PQResult, into end: inout StreamEnd) {
        guard result.rowCount == 1, result.columnCount >= 2 else { return }
        end.nextTimeline = result.value(row: 0, column: 0).flatMap { UInt32($0) }
        end.nextTimelineStart = result.value(row: 0, column: 1).flatMap { try? LSN($0) }
    }

    /// Marks the stream as failed with a connection-level error and returns it.
    private func failLocked(_ error: any Error) -> any Error {
        phase = .ended(StreamEnd(reason: .serverEnded))
        logger.debug("replication stream failed", metadata: ["pgrepl.error": "\(error)"])
        return error
    }

    // MARK: - Writing (lock held)

    /// F5: a status update with the stored positions and the client clock.
    ///
    /// The write position reported is at least the flush position (psycopg2 reports write 0 while
    /// flush moves: pitfall S5), so a server waiting at shutdown for `write == sent` can finish.
    func sendStatusUpdateLocked(replyRequested: Bool) throws {
        let update = StandbyStatusUpdate(
            write: max(writeLSN, flushLSN), flush: flushLSN, apply: applyLSN, clock: .now(),
            replyRequested: replyRequested)
        let bytes = update.bytes
        try bytes.withUnsafeBytes { raw in
            while true {
                let queued = pq.putCopyData(raw)
                if queued == 1 { break }
                if queued < 0 { throw failLocked(PGError.connectionFailure(pq, while: "sending feedback")) }
                try flushLocked()
            }
        }
        try flushLocked()
        reportedFlushLSN = flushLSN
        lastFeedback = monotonicNow()
        feedbackTimestamp = Date()
        ioTimestamp = feedbackTimestamp
        logger.trace(
            "status update sent",
            metadata: ["pgrepl.flush": "\(flushLSN)", "pgrepl.write": "\(update.write)", "pgrepl.reply": "\(replyRequested)"])
    }

    /// Flushes libpq's output buffer; a "still pending" answer (non-blocking mode) waits for the
    /// socket and tries again, reading input when it arrives, as libpq's documentation asks
    /// (psycopg2 reports it as an error: pitfall S11).
    func flushLocked() throws {
        while true {
            let result = pq.flush()
            if result == 0 { return }
            if result < 0 { throw failLocked(PGError.connectionFailure(pq, while: "flushing")) }
            let events = waitForSocket(pq.socket, events: Int16(POLLIN | POLLOUT), timeout: 1.0)
            if events & Int16(POLLIN) != 0, !pq.consumeInput() {
                throw failLocked(PGError.connectionFailure(pq, while: "reading"))
            }
        }
    }

    /// Sends CopyDone.
    func putCopyEndLocked() throws {
        while true {
            let result = pq.putCopyEnd()
            if result == 1 { break }
            if result < 0 { throw failLocked(PGError.connectionFailure(pq, while: "ending the copy")) }
            try flushLocked()
        }
        try flushLocked()
    }

    // MARK: - Stop (lock held)

    /// Client-initiated end: CopyDone, drain the server's remaining data to its CopyDone, read the
    /// results (a physical stream may send its next timeline), and leave the connection idle.
    func stopLocked() throws -> StreamEnd {
        guard case .streaming = phase else {
            if case .ended(let end) = phase { return end }
            return StreamEnd(reason: .stopped)
        }
        var end = StreamEnd(reason: .stopped)
        // Report the final positions first, so what was confirmed is not left to a timer that
        // will not fire again.
        try sendStatusUpdateLocked(replyRequested: false)
        try putCopyEndLocked()
        drain: while true {
            switch pq.getCopyData() {
            case .data: continue
            case .wouldBlock:
                _ = waitForSocket(pq.socket, events: Int16(POLLIN), timeout: 1.0)
                guard pq.consumeInput() else { throw failLocked(PGError.connectionFailure(pq, while: "stopping")) }
            case .done: break drain
            case .failed: throw failLocked(PGError.connectionFailure(pq, while: "stopping"))
            }
        }
        let failure = try drainResultsLocked(into: &end, copyDoneSent: true)
        phase = .ended(end)
        pq.setNonblocking(false)
        heldKeepalive = nil
        stash.removeAll()
        stashHead = 0
        stashBytes = 0
        if let failure { throw failure }
        logger.debug("replication stream stopped")
        return end
    }

    // MARK: - Waiting (lock not held)

    /// Waits until the socket has data, the next status update is due, or `wakeFD` is written.
    func waitForInput(socket: Int32, wakeFD: Int32) throws {
        let (timeout, receiveDeadline) = withLock { () -> (Double, Double?) in
            waitingForInput = true
            let now = monotonicNow()
            var timeout = lastFeedback + statusInterval - now
            if let interval = promptFlushInterval, flushLSN > reportedFlushLSN {
                timeout = min(timeout, lastFeedback + interval - now)
            }
            return (timeout, receiveTimeout.map { lastReceive + $0 - now })
        }
        if let receiveDeadline, receiveDeadline <= 0 {
            let seconds = receiveTimeout ?? 0
            throw withLock {
                failLocked(
                    PGError(.operational, "no message from the server for \(seconds) s (receive timeout)", connectionLost: true))
            }
        }
        var wait = timeout
        if let receiveDeadline { wait = min(wait, receiveDeadline) }
        defer { withLock { waitingForInput = false } }
        guard wait > 0 else { return }
        var fds = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        let count = wakeFD >= 0 ? 2 : 1
        let result = poll(&fds, nfds_t(count), Int32(min(wait * 1000, 3_600_000).rounded(.up)))
        if result < 0, errno != EINTR {
            throw PGError(.operational, "poll failed: \(String(cString: strerror(errno)))")
        }
        if count == 2, fds[1].revents != 0 { drainWakePipe(wakeFD) }
    }

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
        lock.lock()
        keeperRunning = false
        lock.broadcast()
        while !keeperExited { lock.wait() }
        lock.unlock()
    }

    /// Records a confirmed flush position from any thread (a consumer acknowledging); it goes out
    /// with the next status update.
    func recordFlush(_ lsn: LSN) {
        let wake = withLock {
            flushLSN = max(flushLSN, lsn)
            explicitlyFlushedLSN = max(explicitlyFlushedLSN, lsn)
            return promptFlushInterval != nil && waitingForInput && flushLSN > reportedFlushLSN
        }
        // The owner's thread sleeps in poll: wake it to report the position (the pipe keeps the
        // byte until read, so a wake-up just before poll starts is not lost).
        if wake { waker?.wake() }
    }

    func consumerReturned() { withLock { busySince = nil } }

    private func keeperLoop() {
        lock.lock()
        defer {
            keeperExited = true
            lock.broadcast()
            lock.unlock()
        }
        while keeperRunning {
            _ = lock.wait(until: Date(timeIntervalSinceNow: Self.keeperTick))
            guard keeperRunning, isStreaming, deferredError == nil, let since = busySince,
                monotonicNow() - since >= Self.keeperTick
            else { continue }
            do {
                try serviceWhileBusyLocked()
            } catch {
                deferredError = error
            }
        }
    }

    /// While the consumer is busy: read what has arrived (answering keepalives, stashing data up
    /// to a bound), and send status updates on time. With the stash full, reading stops (the
    /// server feels TCP backpressure) and status updates go out often enough for the server's
    /// `wal_sender_timeout`, which it checks against any message from us.
    private func serviceWhileBusyLocked() throws {
        if let held = heldKeepalive {
            heldKeepalive = nil
            _ = try receiveLocked(held, now: nil)
            guard isStreaming else { return }
        }
        if stashBytes < Self.stashLimit {
            guard pq.consumeInput() else { throw failLocked(PGError.connectionFailure(pq, while: "reading")) }
            read: while stashBytes < Self.stashLimit, isStreaming {
                switch pq.getCopyData() {
                case .data(let buffer):
                    if let header = try receiveLocked(buffer, now: monotonicNow()) {
                        stash.append((buffer, header))
                        stashBytes += buffer.count
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
        var interval = statusInterval
        if stashBytes >= Self.stashLimit {
            let heartbeat = (senderTimeout ?? 0) > 0 ? (senderTimeout ?? 0) / 4 : 1.0
            interval = min(interval, max(heartbeat, Self.keeperTick))
        }
        if monotonicNow() >= lastFeedback + interval {
            try sendStatusUpdateLocked(replyRequested: false)
        }
    }
}

/// Seconds on the monotonic clock.
func monotonicNow() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// `poll` on one descriptor; returns the events seen (0 on timeout or error).
@discardableResult
func waitForSocket(_ socket: Int32, events: Int16, timeout: Double) -> Int16 {
    var fd = pollfd(fd: socket, events: events, revents: 0)
    let result = poll(&fd, 1, Int32(timeout * 1000))
    return result > 0 ? fd.revents : 0
}

func drainWakePipe(_ fd: Int32) {
    var scratch = [UInt8](repeating: 0, count: 64)
    while read(fd, &scratch, scratch.count) > 0 {}
}
