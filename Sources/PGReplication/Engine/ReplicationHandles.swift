import PGOutput
import PGSupport
import Synchronization

/// Stop requests for a cursor's streams, and the pipe that wakes its loop.
///
/// The loop checks the flag before every message, so it is an atomic (one load when no stop is
/// asked for), not a lock.
final class StopSignal: Sendable {
    private let requested = Atomic<Bool>(false)
    let pipe = WakePipe()

    /// Asks the loop to stop, and wakes it.
    func request() {
        requested.store(true, ordering: .releasing)
        pipe.signal()
    }

    /// Wakes a loop waiting for input without asking it to stop.
    func wake() { pipe.signal() }

    /// Returns whether a stop was requested, and clears the request.
    func take() -> Bool {
        guard requested.load(ordering: .acquiring) else { return false }
        return requested.exchange(false, ordering: .acquiringAndReleasing)
    }
}

/// Stops a cursor's ``ReplicationCursor/consumeStream(keepaliveInterval:idleInterval:onIdle:_:)`` from any thread: the
/// loop ends the stream cleanly (CopyDone and drain, as ``ReplicationCursor/stopReplication()``)
/// and returns.
public struct ReplicationStopHandle: Sendable {
    let signal: StopSignal

    /// Asks the loop to stop; it wakes at once.
    public func stop() { signal.request() }
}

/// Confirms positions of one replication stream from any thread, and reads its positions.
///
/// A consumer that hands messages to other threads confirms what they handled here instead of
/// through ``ReplicationCursor/sendFeedback(writeLSN:flushLSN:applyLSN:reply:force:)``, which only
/// the cursor's owner may call. Positions never move back. A confirmation goes out with the next
/// status update, or within ``ReplicationCursor/promptFeedbackInterval`` when that is set.
///
/// The handle belongs to the stream that was running when it was made
/// (``ReplicationCursor/makeFeedbackHandle()``); after that stream ends it does nothing.
public struct ReplicationFeedbackHandle: Sendable {
    let engine: CopyBothEngine

    /// Confirms that everything up to `flush` was handled and may be released by the server.
    public func confirm(flush: LSN) { engine.confirm(flush: flush) }

    /// Confirms write, flush and apply positions (zero leaves a position as it is).
    public func confirm(write: LSN, flush: LSN, apply: LSN) {
        engine.confirm(write: write, flush: flush, apply: apply)
    }

    /// Holds back flush forwarding while `held` is true.
    ///
    /// With ``ReplicationCursor/automaticFlush``, a keepalive moves the flush position to the
    /// server's WAL end once everything received was confirmed and handled. A consumer that keeps
    /// data it has not finished with beyond its callback (the changes of a transaction it
    /// assembles until the Commit) holds forwarding meanwhile: pgoutput's positions are not
    /// monotonic, so what it keeps can lie below a position it already confirmed.
    public func holdForwarding(_ held: Bool) { engine.feedback.withLock { $0.machine.forwardingHeld = held } }

    /// The stream's positions now.
    public var positions: ReplicationPositions { ReplicationPositions(engine.machine) }
}

/// Where a replication stream stands: what was received and what is reported.
public struct ReplicationPositions: Hashable, Sendable {
    /// The server WAL end from the last XLogData or keepalive (on logical streams it can move
    /// back; see ``highestWalEnd``).
    public var walEnd: LSN
    /// The highest server WAL end seen in this stream.
    public var highestWalEnd: LSN
    /// The flush position reported, or to be reported (confirmed, or moved on keepalives).
    public var flushLSN: LSN
    /// The highest flush position the consumer confirmed itself.
    public var confirmedFlushLSN: LSN
    /// The flush position of the last status update sent.
    public var reportedFlushLSN: LSN

    init(_ machine: FeedbackMachine) {
        walEnd = machine.walEnd
        highestWalEnd = machine.highestWalEnd
        flushLSN = machine.flushLSN
        confirmedFlushLSN = machine.confirmedFlushLSN
        reportedFlushLSN = machine.reportedFlushLSN
    }
}
