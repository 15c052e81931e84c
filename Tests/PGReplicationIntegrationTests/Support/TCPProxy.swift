import Foundation
import PGSupport

#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP proxy for fault tests: listens on 127.0.0.1 (a free port) and forwards each
/// connection to 127.0.0.1:`targetPort`, with faults on demand:
///
/// - ``cut()`` resets every open connection (RST, as a broken network path looks to the peers);
/// - ``stall()`` stops forwarding on the connections open now without closing them (a
///   black-holed path: neither side hears anything); new connections forward normally;
///   ``resume()`` forwards again;
/// - ``slow(bytesPerSecond:)`` limits the forwarding rate (all connections, both directions).
///
/// One thread with `poll`. It stops by itself: at ``stop()``, when the proxy is released, or after
/// `lifetime` seconds, whichever comes first, closing everything it holds.
final class TCPProxy: Sendable {
    let port: Int
    private let shared: Shared

    init(targetPort: Int, lifetime: Double = 600) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw TestSetupError("proxy: socket() failed: \(errnoText())") }
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(listener, raw, length) == 0 && listen(listener, 64) == 0
                    && getsockname(listener, raw, &length) == 0
            }
        }
        guard bound else {
            close(listener)
            throw TestSetupError("proxy: could not listen on 127.0.0.1: \(errnoText())")
        }
        setNonBlocking(listener)
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            close(listener)
            throw TestSetupError("proxy: pipe() failed: \(errnoText())")
        }
        pipeFDs.forEach(setNonBlocking)
        port = Int(UInt16(bigEndian: address.sin_port))
        let shared = Shared(wakeWrite: pipeFDs[1])
        self.shared = shared
        let loop = ForwardingLoop(
            listener: listener, wakeRead: pipeFDs[0], wakeWrite: pipeFDs[1], targetPort: targetPort,
            deadline: monotonicSeconds() + lifetime)
        let thread = Thread { loop.run(shared) }
        thread.name = "tcp-proxy"
        thread.start()
    }

    deinit { stop() }

    /// Resets every open connection.
    func cut() { shared.command { $0.cuts += 1 } }
    /// Stops forwarding on the connections open now, leaving them open.
    func stall() { shared.command { $0.stalls += 1 } }
    /// Forwards again on stalled connections.
    func resume() { shared.command { $0.resumes += 1 } }
    /// Limits forwarding to about this many bytes per second; nil removes the limit.
    func slow(bytesPerSecond: Int?) { shared.command { $0.bytesPerSecond = bytesPerSecond } }
    /// Closes everything and ends the thread; waits (up to 5 s) until it has.
    func stop() {
        shared.command { $0.stopRequested = true }
        _ = shared.finished.wait(timeout: .now() + 5)
        shared.finished.signal()
    }

    /// Connections accepted so far.
    var acceptedConnections: Int { shared.control.withLock { $0.accepted } }
    /// Connections open now.
    var openConnections: Int { shared.control.withLock { $0.open } }

    /// A DSN for `dsn` with its port replaced by the proxy's.
    func dsn(replacingPortIn dsn: String) -> String {
        dsn.split(separator: " ").map { $0.hasPrefix("port=") ? "port=\(port)" : String($0) }.joined(separator: " ")
    }

    struct Control {
        var stopRequested = false
        var cuts = 0
        var stalls = 0
        var resumes = 0
        var bytesPerSecond: Int?
        var accepted = 0
        var open = 0
    }

    /// What the caller and the thread share.
    final class Shared: Sendable {
        let control = Locked(Control())
        let finished = DispatchSemaphore(value: 0)
        let wakeWrite: Int32

        init(wakeWrite: Int32) { self.wakeWrite = wakeWrite }

        func command(_ change: (inout Control) -> Void) {
            control.withLock { change(&$0) }
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
    }

    /// The thread's own state.
    final class ForwardingLoop: @unchecked Sendable {
        /// One proxied connection: `fds[0]` the client side, `fds[1]` the server side;
        /// `pending[d]` holds bytes read from `fds[d]` not yet written to `fds[1 - d]`.
        final class Pair {
            var fds: [Int32]
            var pending: [[UInt8]] = [[], []]
            var stalled = false
            var closed = false
            init(client: Int32, server: Int32) { fds = [client, server] }
        }

        let listener: Int32
        let wakeRead: Int32
        let wakeWrite: Int32
        let targetPort: Int
        let deadline: Double
        var pairs: [Pair] = []
        var seen = Control()
        var tokens = 0.0
        var lastRefill = monotonicSeconds()

        init(listener: Int32, wakeRead: Int32, wakeWrite: Int32, targetPort: Int, deadline: Double) {
            self.listener = listener
            self.wakeRead = wakeRead
            self.wakeWrite = wakeWrite
            self.targetPort = targetPort
            self.deadline = deadline
        }

        func run(_ shared: Shared) {
            defer {
                pairs.forEach { closePair($0, reset: false) }
                close(listener)
                close(wakeRead)
                close(wakeWrite)
                shared.control.withLock { $0.open = 0 }
                shared.finished.signal()
            }
            while true {
                let control = shared.control.withLock { $0 }
                if control.stopRequested || monotonicSeconds() >= deadline { return }
                if control.cuts != seen.cuts { pairs.forEach { closePair($0, reset: true) } }
                if control.stalls != seen.stalls { pairs.forEach { $0.stalled = true } }
                if control.resumes != seen.resumes { pairs.forEach { $0.stalled = false } }
                seen = control
                refill(rate: control.bytesPerSecond)
                let canRead = control.bytesPerSecond == nil || tokens >= 1

                var fds = [
                    pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
                ]
                var slots: [(pair: Pair, direction: Int, writing: Bool)] = []
                for pair in pairs where !pair.closed && !pair.stalled {
                    for direction in 0..<2 {
                        let writing = !pair.pending[direction].isEmpty
                        guard writing || canRead else { continue }
                        let fd = writing ? pair.fds[1 - direction] : pair.fds[direction]
                        fds.append(pollfd(fd: fd, events: Int16(writing ? POLLOUT : POLLIN), revents: 0))
                        slots.append((pair, direction, writing))
                    }
                }
                let timeout: Int32 = canRead ? 200 : 20
                guard poll(&fds, nfds_t(fds.count), timeout) >= 0 || errno == EINTR else { return }
                if fds[1].revents != 0 {
                    var scratch = [UInt8](repeating: 0, count: 64)
                    while read(wakeRead, &scratch, scratch.count) > 0 {}
                }
                if fds[0].revents & Int16(POLLIN) != 0 { acceptAll(shared) }
                for (index, slot) in slots.enumerated() where fds[index + 2].revents != 0 && !slot.pair.closed {
                    if slot.writing {
                        flush(slot.pair, direction: slot.direction)
                    } else {
                        receive(slot.pair, direction: slot.direction, limited: control.bytesPerSecond != nil)
                    }
                }
                pairs.removeAll { $0.closed }
                shared.control.withLock { $0.open = pairs.count }
            }
        }

        func refill(rate: Int?) {
            let now = monotonicSeconds()
            defer { lastRefill = now }
            guard let rate else { return }
            tokens = min(Double(max(rate, 1)), tokens + Double(rate) * (now - lastRefill))
        }

        func acceptAll(_ shared: Shared) {
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = loopback(port: targetPort)
                let connected =
                    server >= 0
                    && withUnsafePointer(to: &address) { pointer in
                        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                        }
                    }
                guard connected else {
                    close(client)
                    if server >= 0 { close(server) }
                    continue
                }
                setNonBlocking(client)
                setNonBlocking(server)
                pairs.append(Pair(client: client, server: server))
                shared.control.withLock { $0.accepted += 1 }
            }
        }

        func receive(_ pair: Pair, direction: Int, limited: Bool) {
            var size = 65536
            if limited { size = max(1, min(size, Int(tokens))) }
            var buffer = [UInt8](repeating: 0, count: size)
            let count = read(pair.fds[direction], &buffer, size)
            if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) {
                closePair(pair, reset: false)
                return
            }
            guard count > 0 else { return }
            if limited { tokens -= Double(count) }
            pair.pending[direction] = Array(buffer[0..<count])
            flush(pair, direction: direction)
        }

        func flush(_ pair: Pair, direction: Int) {
            let pending = pair.pending[direction]
            let written = pending.withUnsafeBytes { write(pair.fds[1 - direction], $0.baseAddress, $0.count) }
            if written < 0 {
                if errno != EAGAIN && errno != EINTR { closePair(pair, reset: false) }
                return
            }
            pair.pending[direction].removeFirst(written)
        }

        func closePair(_ pair: Pair, reset: Bool) {
            guard !pair.closed else { return }
            pair.closed = true
            for fd in pair.fds {
                if reset {
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                }
                close(fd)
            }
        }
    }
}

private func loopback(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return address
}

private func setNonBlocking(_ fd: Int32) {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
}

private func errnoText() -> String { String(cString: strerror(errno)) }

private func monotonicSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}
