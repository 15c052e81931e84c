import Foundation
import PGOutput

extension CopyBothEngine {
    // MARK: - Writing (io lock held)

    /// Sends one status update the feedback machine asked for, stamped with the client's clock.
    func sendLocked(_ report: FeedbackMachine.Report) throws {
        let bytes = report.statusUpdate(clock: .now()).bytes
        let start = POSIX.monotonicNow()
        try bytes.withUnsafeBytes { raw in
            while true {
                let queued = pq.putCopyData(raw)
                if queued == 1 { break }
                if queued < 0 { throw failLocked(PGError.connectionFailure(pq, while: "sending feedback")) }
                try flushLocked(since: start)
            }
        }
        try flushLocked(since: start)
        feedbackTimestamp = Date()
        ioTimestamp = feedbackTimestamp
        logger.trace(
            "status update sent",
            metadata: [
                "pgrepl.flush": "\(report.flush)", "pgrepl.write": "\(report.write)",
                "pgrepl.reply": "\(report.replyRequested)",
            ])
    }

    /// Flushes libpq's output buffer. A "still pending" answer (non-blocking mode) waits for the
    /// socket in bounded slices and tries again, reading input when it arrives, as libpq's
    /// documentation asks (psycopg2 reports it as an error).
    func flushLocked(since start: Double = POSIX.monotonicNow()) throws {
        while true {
            let result = pq.flush()
            if result == 0 { return }
            if result < 0 { throw failLocked(PGError.connectionFailure(pq, while: "flushing")) }
            let ready = try waitSliceLocked(forWriting: true, since: start, while: "flushing")
            if ready.readable, !pq.consumeInput() {
                throw failLocked(PGError.connectionFailure(pq, while: "reading"))
            }
        }
    }

    /// Sends CopyDone.
    func putCopyEndLocked() throws {
        let start = POSIX.monotonicNow()
        while true {
            let result = pq.putCopyEnd()
            if result == 1 { break }
            if result < 0 { throw failLocked(PGError.connectionFailure(pq, while: "ending the copy")) }
            try flushLocked(since: start)
        }
        try flushLocked(since: start)
    }

    // MARK: - Stop (io lock held)

    /// Client-initiated end: report the final positions, CopyDone, drain the server's remaining
    /// data to its CopyDone, read the results (a physical stream may send its next timeline), and
    /// leave the connection idle.
    func stopLocked() throws -> StreamEnd {
        guard case .streaming = phase else {
            if case .ended(let end) = phase { return end }
            return StreamEnd(reason: .stopped)
        }
        var end = StreamEnd(reason: .stopped)
        try feedbackLocked(.stopping)
        phase = .stopping
        try putCopyEndLocked()
        var lastProgress = POSIX.monotonicNow()
        drain: while true {
            switch pq.getCopyData() {
            case .data:
                lastProgress = POSIX.monotonicNow()
            case .wouldBlock:
                _ = try waitSliceLocked(
                    forWriting: false, since: lastProgress, while: "stopping",
                    timeout: receiveTimeout ?? Self.stopDrainTimeout)
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
}
