import Foundation
import PGOutput
import PGSupport

/// What "acknowledged" means for `pgrepl stream`'s output: a position is acknowledged to the
/// server only once its lines are out of pgrepl's hands.
///
/// - A file (`--output`, or stdout redirected to one): written and fsync'd.
/// - A pipe: taken out of the pipe by the reader. What sits unread in the pipe when either side
///   dies is sent again by the next run. (A reader that reads ahead and discards, as `head`
///   does, owns what it read.)
/// - A socket: sent and taken by the peer (for a Unix socket, read by the peer; for TCP, received
///   by the peer's host).
/// - A terminal or a device: written.
///
/// `--acknowledge-on-write` opts a pipe or socket into acknowledging at write.
final class ReaderAcknowledgement: Sendable {
    private struct State {
        /// Positions waiting for the reader, with the byte count it must pass for each.
        var waiting: [(offset: Int, lsn: LSN)] = []
        var written = 0
    }

    private let fd: Int32
    private let kind: LineOutput.Kind
    private let waits: Bool
    private let state = Locked(State())
    private let acknowledge: @Sendable (LSN) -> Void
    private let timer = Locked<Periodic?>(nil)

    /// - Parameters:
    ///   - output: where the lines go.
    ///   - onWrite: acknowledge at write even for a pipe or socket.
    ///   - acknowledge: reports a position to the server (called on any thread).
    init(output: LineOutput, onWrite: Bool, acknowledge: @escaping @Sendable (LSN) -> Void) {
        fd = output.fd
        kind = output.kind
        waits = !onWrite && (kind == .pipe || kind == .socket)
        self.acknowledge = acknowledge
        if waits {
            timer.withLock { $0 = Periodic(every: 0.02) { [weak self] in _ = try? self?.release() } }
        }
    }

    deinit { timer.withLock { $0?.cancel() } }

    /// The lines up to `lsn` were written, `bytesWritten` being the output's count after them.
    func written(_ lsn: LSN, bytesWritten: Int) throws(CLIError) {
        guard waits else { return acknowledge(lsn) }
        state.withLock { state in
            state.waiting.append((bytesWritten, lsn))
            state.written = bytesWritten
        }
        try release()
    }

    /// Acknowledges what the reader has taken. Returns whether anything is still waiting.
    @discardableResult
    func release() throws(CLIError) -> Bool {
        guard waits else { return false }
        // Measured and acknowledged under the lock. Measured: bytes are written before
        // `written` counts them, so an unread count taken with the count it goes with can only
        // make `taken` too small, never too large. Acknowledged: a release on another thread (the
        // timer, or `drain`) that finds nothing left waiting must find it acknowledged too, or a
        // stop that follows could send its last status update without it.
        let (fd, kind) = (fd, kind)
        return try state.withLock { state -> Result<Bool, CLIError> in
            let unread: Int
            do throws(CLIError) {
                unread = try LineOutput.unreadBytes(fd: fd, kind: kind) ?? 0
            } catch {
                return .failure(error)
            }
            let taken = state.written - unread
            var released: LSN?
            while let first = state.waiting.first, first.offset <= taken {
                released = first.lsn
                state.waiting.removeFirst()
            }
            if let released { acknowledge(released) }
            return .success(!state.waiting.isEmpty)
        }.get()
    }

    /// Waits until the reader took everything written, or went away, or `stopped` says so.
    func drain(stopped: () -> Bool = { false }) throws(CLIError) {
        while try release() {
            if LineOutput.readerClosed(fd: fd, kind: kind) || stopped() { return }
            usleep(5_000)
        }
    }

    /// Stops the periodic release.
    func stop() { timer.withLock { $0?.cancel() } }
}
