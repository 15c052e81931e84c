import Foundation
import Logging
import PGOutput
import PGSupport
import Synchronization

/// The one copy-both engine: it owns a connection while it streams.
///
/// It reads frames (the read algorithm and the batch read), writes status updates and flushes,
/// stops and drains, and runs the keeper thread that answers the server while a consumer callback
/// runs. What to report and when is decided by a ``FeedbackMachine``; the engine only executes its
/// actions. Both façades sit on it: ``ReplicationCursor`` (psycopg2's API) and ``ChangeStream``,
/// which uses only the cursor's public API and the Sendable handles the engine gives out
/// (``ReplicationStopHandle``, ``ReplicationFeedbackHandle``).
///
/// Two locks, always taken in this order:
/// - `io` guards libpq and the engine's own state. The owner's thread and the keeper thread never
///   use libpq at the same time. It is held across at most one bounded wait (``waitSlice``) at a
///   time, after which deadlines are checked again.
/// - `feedback` guards the feedback machine. It is never held across I/O, so confirming a position
///   or reading positions from another thread never waits behind the network.
///
/// `@unchecked Sendable`: every stored `var` is guarded by `io`, except the feedback state, which
/// is behind its own lock. Since `io` already serialises every access, the state opts out of
/// Swift's dynamic exclusivity checks (`@exclusivity(unchecked)`): they cost a tenth of a fast
/// consumer's user time.
final class CopyBothEngine: @unchecked Sendable {
    enum Phase {
        case streaming
        /// The client sent CopyDone and drains; the keeper stays away.
        case stopping
        case ended(StreamEnd)
    }

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

    /// The feedback machine, and whether the owner's thread sleeps waiting for input (then a
    /// confirmation that makes a prompt report due wakes it).
    struct FeedbackState {
        var machine: FeedbackMachine
        var ownerWaiting = false
    }

    /// The longest a network wait holds `io` before deadlines are checked again.
    static let waitSlice = 0.1
    /// How long a client stop waits for the server's end of the copy when no receive timeout is
    /// set: a black-holed link must not hang a stop (or Ctrl-C) forever.
    static let stopDrainTimeout = 10.0
    /// What the keeper stashes at most while the consumer is busy; past it, TCP holds the server.
    static let stashLimit = 16 << 20
    static let keeperTick = 0.1

    /// The I/O lock: it guards libpq and the engine's stored state, which lives outside the
    /// locked value (the read path uses it field by field, unchecked for exclusivity).
    let io = Locked(())
    let feedback: Locked<FeedbackState>
    let pq: PQConnection
    let logger: Logger
    let decode: Bool
    let command: String
    let replicationType: ReplicationType
    /// The server's `wal_sender_timeout` in seconds when it could be read (0 = disabled).
    let senderTimeout: Double?
    /// Stop requests and the wake-up pipe, shared with the cursor's stop handles.
    let signal: StopSignal
    let startTime: Double
    /// Set once the connection was closed under the stream; checked before every delivery.
    let closed = Atomic<Bool>(false)

    @exclusivity(unchecked) var phase: Phase = .streaming
    @exclusivity(unchecked) var receiveTimeout: Double?
    @exclusivity(unchecked) var ioTimestamp = Date()
    @exclusivity(unchecked) var feedbackTimestamp = Date(timeIntervalSince1970: 0)

    // Frames the keeper read while the consumer was busy, delivered before anything newer.
    @exclusivity(unchecked) var stash: [Frame?] = []
    @exclusivity(unchecked) var stashHead = 0
    @exclusivity(unchecked) var stashBytes = 0
    /// A keepalive a batch read found behind data frames: handled at the next read, once the
    /// consumer saw those frames (``readBatchLocked(readSocket:limit:markBusy:into:)``).
    @exclusivity(unchecked) var heldKeepalive: CopyDataBuffer?
    /// A failure found behind frames, reported once they were delivered.
    @exclusivity(unchecked) var deferredError: (any Error)?

    // Keeper thread control. `busySince`: since when the consumer has been busy with frames
    // handed to it, without coming back to read.
    @exclusivity(unchecked) var busySince: Double?
    @exclusivity(unchecked) var keeperRunning = false
    @exclusivity(unchecked) var keeperExited = true

    init(
        pq: PQConnection, logger: Logger, command: String, replicationType: ReplicationType, decode: Bool,
        settings: FeedbackMachine.Settings, senderTimeout: Double?, receiveTimeout: Double?, signal: StopSignal
    ) {
        self.pq = pq
        self.logger = logger
        self.command = command
        self.replicationType = replicationType
        self.decode = decode
        self.senderTimeout = senderTimeout
        self.receiveTimeout = receiveTimeout
        self.signal = signal
        let now = POSIX.monotonicNow()
        self.startTime = now
        var machine = FeedbackMachine(settings: settings)
        _ = machine.handle(.started, now: now)
        self.feedback = Locked(FeedbackState(machine: machine))
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try io.withLock { _ in try body() }
    }

    /// The feedback machine now (any thread).
    var machine: FeedbackMachine { feedback.withLock { $0.machine } }

    var isStreaming: Bool {
        if case .streaming = phase { return true }
        return false
    }

    var end: StreamEnd? {
        if case .ended(let end) = phase { return end }
        return nil
    }

    /// Closes the connection under the stream: the stream ends, the keeper (which checks the
    /// phase under the same lock) stays away from the freed connection, and a waiting owner wakes.
    func close() {
        withLock {
            if isStreaming { phase = .ended(StreamEnd(reason: .stopped)) }
            closed.store(true, ordering: .releasing)
            pq.finish()
        }
        logger.debug("replication connection closed while streaming")
        signal.wake()
    }

    /// The error for a stream whose connection was closed.
    static let closedError = PGError.interface("the connection was closed while streaming")

    // MARK: - Feedback (any thread)

    /// Records positions the consumer confirmed. Without `force` or `reply` they go out with the
    /// next status update the machine asks for (or promptly, with a prompt interval: then a
    /// sleeping owner is woken to send it). Safe from any thread.
    func confirm(write: LSN = 0, flush: LSN = 0, apply: LSN = 0) {
        let wake = feedback.withLock { state -> Bool in
            // A confirmation without `force` or `reply` never reports, so the time is not read.
            _ = state.machine.handle(.confirmed(write: write, flush: flush, apply: apply), now: 0)
            return state.ownerWaiting && state.machine.settings.promptInterval != nil
                && state.machine.flushLSN > state.machine.reportedFlushLSN
        }
        if wake { signal.wake() }
    }

    /// Applies an event to the machine and sends the status update it asks for (io lock held).
    func feedbackLocked(_ event: FeedbackMachine.Event, now: Double = POSIX.monotonicNow()) throws {
        let action = feedback.withLock { $0.machine.handle(event, now: now) }
        if let report = action.report { try sendLocked(report) }
    }

    // MARK: - Reading (io lock held)

    /// psycopg2's read algorithm: maybe send due feedback, then read at most one data message
    /// with at most one socket read. Frames the keeper stashed come first.
    func readOneLocked() throws -> ReadOutcome {
        var frames: [Frame?] = []
        switch try readBatchLocked(readSocket: true, limit: 1, markBusy: false, into: &frames) {
        case .frames:
            guard let frame = frames[0] else { return .nothing }
            return .message(frame)
        case .nothing: return .nothing
        case .ended(let end): return .ended(end)
        }
    }

    enum ReadOutcome {
        case message(Frame)
        case nothing
        case ended(StreamEnd)
    }

    /// The read algorithm for a batch: what ``readOneLocked()`` does, but it takes up to `limit`
    /// data frames from what one socket read brought (and libpq had buffered) under one lock
    /// acquisition, with one clock reading.
    ///
    /// The order of events is psycopg2's: a keepalive found behind data frames of the batch is
    /// held (``heldKeepalive``) and handled at the next read, after the consumer saw those frames,
    /// so flush forwarding and replies see what the consumer confirmed by then. A failure or the
    /// end of the copy found behind data frames is reported at the next read too, after the frames
    /// were delivered.
    ///
    /// With `markBusy`, ``busySince`` is set when frames are returned: the consumer is then busy
    /// with them, and the keeper answers the server if it does not come back for more in time.
    ///
    /// With `readSocket: false` the socket is not read: `consumeStream` passes it once a wake-up's
    /// data is used up, and polls or pauses instead: a consumer that keeps up with the server
    /// would otherwise pay a `recv` that finds nothing (EAGAIN) before every `poll`.
    func readBatchLocked(
        readSocket: Bool, limit: Int, markBusy: Bool, into frames: inout [Frame?]
    ) throws
        -> BatchOutcome
    {
        busySince = nil
        if stashHead < stash.count {
            while stashHead < stash.count, frames.count < limit, let frame = stash[stashHead] {
                stash[stashHead] = nil
                stashHead += 1
                stashBytes -= frame.buffer.count
                frames.append(frame)
            }
            if stashHead == stash.count {
                stash.removeAll(keepingCapacity: true)
                stashHead = 0
            }
            if markBusy { busySince = POSIX.monotonicNow() }
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
        let now = POSIX.monotonicNow()
        // Everything received before was handled: the consumer is back for more.
        try feedbackLocked(.handled, now: now)
        if let held = heldKeepalive {
            heldKeepalive = nil
            _ = try receiveLocked(held, now: now)
        }
        try feedbackLocked(.tick(), now: now)
        var consumed = !readSocket
        var received = false
        // The batch's data frames are booked with the feedback machine at once, when the batch
        // ends (one lock round trip per batch, not per frame).
        var data = DataFold()
        defer {
            if received { ioTimestamp = Date() }
            if markBusy, !frames.isEmpty { busySince = now }
            if let event = data.event { _ = feedback.withLock { $0.machine.handle(event, now: now) } }
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
                let isKeepalive = ReplicationFrame.isKeepalive(
                    UnsafeRawBufferPointer(start: buffer.pointer, count: buffer.count))
                if isKeepalive, !frames.isEmpty {
                    heldKeepalive = buffer
                    return .frames
                }
                do {
                    switch try parseLocked(buffer) {
                    case .keepalive(let keepalive):
                        try feedbackLocked(.received(.keepalive(keepalive)), now: now)
                    case .xLogData(let header):
                        data.add(header)
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

    /// XLogData headers folded for one feedback event.
    struct DataFold {
        var highestDataStart: LSN = 0
        var lastWALEnd: LSN = 0
        var highestWALEnd: LSN = 0
        var any = false

        mutating func add(_ header: XLogDataHeader) {
            highestDataStart = max(highestDataStart, header.dataStart)
            lastWALEnd = header.walEnd
            highestWALEnd = max(highestWALEnd, header.walEnd)
            any = true
        }

        var event: FeedbackMachine.Event? {
            any
                ? .receivedData(
                    highestDataStart: highestDataStart, lastWALEnd: lastWALEnd, highestWALEnd: highestWALEnd)
                : nil
        }
    }

    /// One CopyData as a replication frame; a malformed one fails the stream.
    func parseLocked(_ buffer: CopyDataBuffer) throws -> ReplicationFrame {
        do {
            return try ReplicationFrame.parse(buffer.bytes)
        } catch {
            throw failLocked(error)
        }
    }

    /// Books one received CopyData with the feedback machine; returns the header of a data
    /// message, nil for a keepalive (answered already when it asked).
    func receiveLocked(_ buffer: CopyDataBuffer, now: Double) throws -> XLogDataHeader? {
        let frame = try parseLocked(buffer)
        try feedbackLocked(.received(frame), now: now)
        if case .xLogData(let header) = frame { return header }
        return nil
    }

    /// The copy ended: the server sent CopyDone, completed the command, or failed.
    func endOfCopyLocked() throws -> StreamEnd {
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
    func drainResultsLocked(into end: inout StreamEnd, copyDoneSent: Bool) throws -> PGError? {
        var failure: PGError?
        var answeredCopyDone = copyDoneSent
        var completed = false
        // `PQgetResult` would block until a result is complete: wait in bounded slices instead.
        var lastProgress = POSIX.monotonicNow()
        func waitForResult() throws {
            while pq.isBusy {
                let ready = try waitSliceLocked(forWriting: false, since: lastProgress, while: "reading the results")
                if ready.readable {
                    // A failed read is left for `PQgetResult` to report.
                    guard pq.consumeInput() else { return }
                    lastProgress = POSIX.monotonicNow()
                }
            }
        }
        while true {
            try waitForResult()
            guard let result = pq.getResult() else { break }
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
    func failLocked(_ error: any Error) -> any Error {
        phase = .ended(StreamEnd(reason: .serverEnded))
        logger.debug("replication stream failed", metadata: ["pgrepl.error": "\(error)"])
        return error
    }

    // MARK: - Waiting (io lock not held)

    /// Waits until the socket has data, the feedback machine's deadline comes, or the wake-up
    /// pipe is written (a stop request, or a confirmation due promptly), or `limit` seconds pass.
    ///
    /// - Throws: `PGError` (connection lost) when nothing arrived for ``receiveTimeout``.
    func waitForInput(atMost limit: Double? = nil) throws {
        let (deadline, lastReceive) = feedback.withLock { state in
            state.ownerWaiting = true
            return (state.machine.deadline, state.machine.lastReceiveTime)
        }
        defer { feedback.withLock { $0.ownerWaiting = false } }
        let (receiveTimeout, socket) = withLock { (self.receiveTimeout, pq.socket) }
        let now = POSIX.monotonicNow()
        var wait = deadline - now
        if let receiveTimeout {
            let receiveDeadline = (lastReceive ?? startTime) + receiveTimeout
            if receiveDeadline <= now {
                throw withLock {
                    failLocked(
                        PGError(
                            .operational, "no message from the server for \(receiveTimeout) s (receive timeout)",
                            connectionLost: true))
                }
            }
            wait = min(wait, receiveDeadline - now)
        }
        if let limit { wait = min(wait, limit) }
        guard wait > 0 else { return }
        _ = try POSIX.wait(socket: socket, wake: signal.pipe, timeout: wait)
    }

    /// One bounded wait for the socket inside a write or drain loop (io lock held): at most
    /// ``waitSlice``, and a failure once nothing moved for the receive timeout.
    func waitSliceLocked(
        forWriting: Bool, since start: Double, while action: String, timeout: Double? = nil
    ) throws -> POSIX.Readiness {
        if let limit = timeout ?? receiveTimeout, POSIX.monotonicNow() - start >= limit {
            throw failLocked(
                PGError(.operational, "\(action): no progress for \(limit) s", connectionLost: true))
        }
        return try POSIX.wait(socket: pq.socket, forWriting: forWriting, timeout: Self.waitSlice)
    }
}

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
