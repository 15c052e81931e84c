import Foundation
import Synchronization

/// Where `pgrepl stream` writes: stdout, or a file opened for appending before anything connects.
///
/// Lines are written in whole batches (a transaction's lines at once) with ``Output/writeAll(_:to:context:)``;
/// when a write to a file fails half-way, the file is cut back to where the batch started, so it
/// only ever holds whole lines. ``sync()`` makes what was written durable (fsync of a file, or of
/// stdout when it is a regular file) before the caller acknowledges it to the server.
///
/// On SIGHUP (``reopen``), a file is closed and opened again by its path before the next write,
/// so that log rotation (`mv` the file, then SIGHUP) loses nothing: what was written before is
/// synced in the old file, and what comes after is written, synced and only then acknowledged in
/// the new one, as pg_recvlogical does.
final class LineOutput {
    /// The file's path; nil for stdout.
    let path: String?
    private(set) var fd: Int32
    /// Whether this run created the file (it is removed again when nothing was written).
    private var created: Bool
    /// Set by a signal handler: close and open the file again before the next write.
    let reopen = ReopenRequest()
    private(set) var wroteSomething = false
    private let isRegularFile: Bool
    /// What stdout is: a reader on the other end of a pipe or socket takes lines out at its own
    /// pace, and only what it took may be acknowledged (``unreadBytes(fd:kind:)``).
    let kind: Kind
    /// Every byte written so far (the position a reader must pass for a line to be taken).
    private(set) var bytesWritten = 0

    enum Kind: Sendable {
        case file, pipe, socket, terminal, other
    }
    /// Whether ``finish(discardIfUnused:)`` closed the file.
    private var finished = false

    /// Stdout.
    init() {
        path = nil
        fd = STDOUT_FILENO
        created = false
        var info = stat()
        let type = fstat(STDOUT_FILENO, &info) == 0 ? info.st_mode & S_IFMT : 0
        isRegularFile = type == S_IFREG
        kind =
            switch type {
            case S_IFREG: .file
            case S_IFIFO: .pipe
            case S_IFSOCK: .socket
            default: isatty(STDOUT_FILENO) == 1 ? .terminal : .other
            }
    }

    /// Opens (or creates, mode 0644) `path` for appending. An existing file that ends in the middle
    /// of a line (a run killed during a write) is cut back to its last complete line.
    init(path: String) throws(CLIError) {
        self.path = path
        (fd, created) = try Self.openFile(path)
        self.isRegularFile = true
        self.kind = .file
        // From here on `self` is whole: when this initializer throws, `deinit` closes `fd`.
        try Self.prepare(fd, path: path, created: created)
    }

    /// Opens `path` for appending, creating it when it does not exist.
    private static func openFile(_ path: String) throws(CLIError) -> (fd: Int32, created: Bool) {
        var fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC)
        var created = false
        if fd < 0, errno == ENOENT {
            fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            created = fd >= 0
        }
        guard fd >= 0 else { throw CLIError.io("opening --output \(path)") }
        return (fd, created)
    }

    /// Checks an opened file, syncs the folder of a new one, and cuts a torn last line.
    private static func prepare(_ fd: Int32, path: String, created: Bool) throws(CLIError) {
        let context = "opening --output \(path)"
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CLIError.io(context) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CLIError(.io, context, "not a regular file") }
        if created {
            // The new file's name is durable only once its folder is synced: without that, a power
            // loss could drop the file, and with it lines already acknowledged to the server.
            try Self.syncFolder(of: path, context: context)
        }
        try Self.cutToLastLine(fd, size: Int64(info.st_size), context: context)
    }

    /// Log rotation: the old file is synced and closed, the path opened again (created when it
    /// was moved away).
    private func reopenFile() throws(CLIError) {
        guard let path else { return }
        try sync()
        let (newFD, newlyCreated) = try Self.openFile(path)
        do {
            try Self.prepare(newFD, path: path, created: newlyCreated)
        } catch {
            close(newFD)
            throw error
        }
        close(fd)
        fd = newFD
        created = newlyCreated
        wroteSomething = false
    }

    deinit {
        if path != nil, !finished { close(fd) }
    }

    /// fsync of the folder that holds `path`.
    static func syncFolder(of path: String, context: String) throws(CLIError) {
        let folder = path.contains("/") ? String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) : "."
        let fd = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError.io(context) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CLIError.io(context) }
    }

    /// Writes the lines, each followed by a newline, in one batch.
    func write(_ lines: [String]) throws(CLIError) {
        guard !lines.isEmpty else { return }
        try write(bytes: Array(lines.map { $0 + "\n" }.joined().utf8))
    }

    /// Writes bytes (whole lines) in one batch; on failure the file is cut back to where the
    /// batch started, so it never holds half of one.
    func write(bytes: [UInt8]) throws(CLIError) {
        try bytes.withUnsafeBytes { raw in Result { () throws(CLIError) in try write(raw) } }.get()
    }

    /// Writes bytes (whole lines) in one batch, as ``write(bytes:)`` does.
    func write(_ bytes: UnsafeRawBufferPointer) throws(CLIError) {
        guard !bytes.isEmpty else { return }
        if reopen.take() { try reopenFile() }
        let context = path.map { "writing --output \($0)" } ?? "writing to stdout"
        let start = isRegularFile ? lseek(fd, 0, SEEK_END) : -1
        do {
            try Output.writeAll(bytes, to: fd, context: context)
        } catch {
            if start >= 0 { _ = ftruncate(fd, start) }
            throw error
        }
        wroteSomething = true
        bytesWritten += bytes.count
    }

    /// The bytes written to `fd` that its reader has not taken out yet: of a pipe, what it holds
    /// (`FIONREAD`); of a socket, what is not yet sent and received (`SIOCOUTQ`, for a Unix
    /// socket the peer's unread data, counted with the kernel's overhead, so never too few).
    /// Nil for files, terminals and devices, where a write is delivery. Safe from any thread.
    static func unreadBytes(fd: Int32, kind: Kind) throws(CLIError) -> Int? {
        let request: UInt
        switch kind {
        case .pipe: request = UInt(FIONREAD)
        case .socket: request = UInt(TIOCOUTQ)
        case .file, .terminal, .other: return nil
        }
        var count: Int32 = 0
        guard ioctl(fd, request, &count) == 0 else { throw CLIError.io("asking stdout how much is unread") }
        return Int(count)
    }

    /// Whether the reader of a pipe or socket `fd` went away (what it left unread is never read).
    static func readerClosed(fd: Int32, kind: Kind) -> Bool {
        guard kind == .pipe || kind == .socket else { return false }
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&descriptor, 1, 0) >= 0 else { return false }
        return descriptor.revents & Int16(POLLERR | POLLHUP) != 0
    }

    /// Makes what was written durable: fsync for files (including a stdout redirected to one).
    func sync() throws(CLIError) {
        guard isRegularFile else { return }
        guard fsync(fd) == 0 else { throw CLIError.io(path.map { "syncing --output \($0)" } ?? "syncing stdout") }
    }

    /// Closes the file. With `discardIfUnused` (after a failure), a file this run created and
    /// never wrote to is removed.
    func finish(discardIfUnused: Bool = false) {
        guard let path, !finished else { return }
        finished = true
        close(fd)
        if discardIfUnused, created, !wroteSomething { unlink(path) }
    }

    private static func cutToLastLine(_ fd: Int32, size: Int64, context: String) throws(CLIError) {
        guard size > 0 else { return }
        let chunk: Int64 = 65_536
        var end = size
        while end > 0 {
            let start = max(0, end - chunk)
            var buffer = [UInt8](repeating: 0, count: Int(end - start))
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
            guard count == buffer.count else { throw CLIError.io(context) }
            if let last = buffer.lastIndex(of: 0x0A) {
                let keep = start + Int64(last) + 1
                if keep != size {
                    guard ftruncate(fd, off_t(keep)) == 0 else { throw CLIError.io(context) }
                    Output.printError("pgrepl: warning: \(context): removed an incomplete last line")
                }
                return
            }
            end = start
        }
        guard ftruncate(fd, 0) == 0 else { throw CLIError.io(context) }
        Output.printError("pgrepl: warning: \(context): removed an incomplete last line")
    }
}

/// A request to reopen the output, made from a signal handler's queue.
final class ReopenRequest: Sendable {
    private let requested = Atomic<Bool>(false)

    func request() { requested.store(true, ordering: .releasing) }

    /// Whether a reopen was requested since the last call.
    func take() -> Bool { requested.exchange(false, ordering: .acquiringAndReleasing) }
}
