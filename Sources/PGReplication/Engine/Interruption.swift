import PGOutput

/// What may cut a network wait short that is not a stream's own: a stop request announced on a
/// pipe, and a limit on waiting without progress.
///
/// ``ChangeStream`` gives one to the connections it opens, so that ``ChangeStream/stop()`` and
/// its receive timeout reach a connect, a slot's creation or the initial snapshot's copy.
struct Interruption: Sendable {
    /// Written when a stop is requested; waits watch it.
    var pipe: WakePipe?
    /// Whether a stop was requested.
    var isRequested: @Sendable () -> Bool
    /// Seconds a wait may go without progress; nil waits as long as the server takes.
    var timeout: Double?

    /// No interruption: waits last as long as the server takes.
    static let none = Interruption(pipe: nil, isRequested: { false }, timeout: nil)

    /// The error for a wait that was stopped.
    static func stopped(_ action: String) -> PGError {
        PGError(.operational, "\(action): stopped", sqlState: .queryCanceled)
    }

    /// Throws when a stop was requested, or when nothing moved for ``timeout`` since `since`.
    func check(since: Double, _ action: String) throws {
        if isRequested() { throw Self.stopped(action) }
        if let timeout, POSIX.monotonicNow() - since >= timeout {
            throw PGError(
                .operational, "\(action): no progress for \(timeout) s (receive timeout)", connectionLost: true)
        }
    }

    /// Waits for the socket in one bounded slice (``CopyBothEngine/waitSlice``), watching the
    /// stop pipe.
    func wait(on pq: PQConnection, forWriting: Bool = false) throws -> POSIX.Readiness {
        try POSIX.wait(socket: pq.socket, forWriting: forWriting, wake: pipe, timeout: CopyBothEngine.waitSlice)
    }
}

extension PQConnection {
    /// Runs a simple query without blocking the thread beyond one wait slice at a time, so that a
    /// stop request or the receive timeout ends the wait (the server is asked to cancel the
    /// command, with `PQcancel`). Returns what `PQexec` would: the first failed result, else the
    /// last one; nil when the query could not be sent.
    func execute(_ command: String, interruption: Interruption) throws -> PQResult? {
        guard interruption.pipe != nil || interruption.timeout != nil else { return exec(command) }
        guard sendQuery(command) else { return nil }
        let action = "running \(command.prefix(40))"
        var lastProgress = POSIX.monotonicNow()
        var interrupted: (error: any Error, at: Double)?
        var kept: PQResult?
        func isFailure(_ result: PQResult) -> Bool {
            [.fatalError, .badResponse, .nonfatalError].contains(result.status)
        }
        while true {
            while isBusy {
                if let interrupted {
                    // The server was asked to cancel; give it a moment to say it did.
                    if POSIX.monotonicNow() - interrupted.at > Self.cancelGrace { throw interrupted.error }
                } else {
                    do {
                        try interruption.check(since: lastProgress, action)
                    } catch {
                        // Ask the server to stop, then collect the results as usual: the command
                        // ends with a cancellation error, and the connection stays usable.
                        interrupted = (error, POSIX.monotonicNow())
                        makeCanceller()?.requestCancel()
                    }
                }
                let ready = try interruption.wait(on: self)
                if ready.readable {
                    guard consumeInput() else { return kept ?? getResult() }
                    lastProgress = POSIX.monotonicNow()
                }
            }
            guard let result = getResult() else { break }
            if kept.map({ !isFailure($0) }) ?? true { kept = result }
            if [.copyBoth, .copyIn, .copyOut].contains(result.status) { break }
        }
        if let interrupted { throw interrupted.error }
        return kept
    }

    /// How long a cancelled command may take to end before the wait gives up on it.
    static let cancelGrace = 5.0
}
