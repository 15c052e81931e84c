// The engine's system calls: the monotonic clock, `poll`, short pauses and the wake-up pipe. Every
// such call of the library sits here, as every libpq call sits in `LibPQ/LibPQ.swift`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum POSIX {
    /// Seconds on the monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`).
    static func monotonicNow() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// What `poll` saw on a socket.
    struct Readiness: Hashable {
        var readable = false
        var writable = false
        /// The wake-up pipe was written (and has been drained).
        var woken = false
    }

    /// `poll` on a socket (`fd` < 0: none) and, when given, a wake-up pipe, for at most `timeout`
    /// seconds (negative or NaN: no wait; capped at an hour). EINTR is a wake-up with nothing
    /// ready.
    ///
    /// - Throws: `PGError` (`.operational`) when `poll` fails otherwise.
    static func wait(
        socket fd: Int32, forWriting: Bool = false, wake: WakePipe? = nil, timeout: Double
    ) throws
        -> Readiness
    {
        let events = Int16(forWriting ? (POLLIN | POLLOUT) : POLLIN)
        var fds = [pollfd(fd: fd, events: events, revents: 0)]
        let wakeFD = wake?.readFD ?? -1
        if wakeFD >= 0 { fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)) }
        let milliseconds = timeout > 0 ? Int32((min(timeout, 3600) * 1000).rounded(.up)) : 0
        let result = poll(&fds, nfds_t(fds.count), milliseconds)
        if result < 0 {
            if errno == EINTR { return Readiness() }
            throw PGError(.operational, "poll failed: \(String(cString: strerror(errno)))")
        }
        var readiness = Readiness()
        readiness.readable = fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0
        readiness.writable = fds[0].revents & Int16(POLLOUT) != 0
        if fds.count == 2, fds[1].revents != 0 {
            readiness.woken = true
            wake?.drain()
        }
        return readiness
    }

    /// Sleeps for `seconds` (at most one second), for the read coalescing pause.
    static func pause(_ seconds: Double) {
        guard seconds > 0 else { return }
        usleep(useconds_t(min(seconds, 1) * 1_000_000))
    }
}

/// A pipe that wakes a thread waiting in ``POSIX/wait(socket:forWriting:wake:timeout:)``.
///
/// `@unchecked Sendable`: the descriptors are set once, in `init`, and closed in `deinit`; a write
/// or read on a pipe is safe from any thread.
final class WakePipe: @unchecked Sendable {
    let readFD: Int32
    private let writeFD: Int32

    /// A non-blocking pipe; both ends are -1 when none could be made (waits then just time out).
    init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        } else {
            fds = [-1, -1]
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    /// Wakes the waiter. The byte stays in the pipe until read, so a wake-up just before the wait
    /// begins is not lost.
    func signal() {
        guard writeFD >= 0 else { return }
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    /// Reads every pending wake-up.
    func drain() {
        guard readFD >= 0 else { return }
        var scratch = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &scratch, { read(readFD, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Waits up to `seconds` for a wake-up; returns whether one came.
    @discardableResult
    func sleep(_ seconds: Double) -> Bool {
        (try? POSIX.wait(socket: -1, wake: self, timeout: seconds).woken) ?? false
    }

    deinit {
        if readFD >= 0 { close(readFD) }
        if writeFD >= 0 { close(writeFD) }
    }
}
