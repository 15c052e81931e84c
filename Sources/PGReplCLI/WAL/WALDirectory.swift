import Foundation
import PGReplication

/// The folder `pgrepl receivewal` archives into: segment files (the open one as `.partial`,
/// always preallocated to the segment size) and timeline history files.
struct WALDirectory {
    let path: String
    let segments: WALSegments
    /// Whether to fsync files and the folder (off with `--no-sync`).
    let sync: Bool

    /// Fails unless `path` is a folder this process can create files in.
    static func checkWritable(_ path: String) throws(CLIError) {
        let context = "using --dir \(path)"
        var info = stat()
        guard stat(path, &info) == 0 else { throw CLIError.io(context) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw CLIError(.io, context, String(cString: strerror(ENOTDIR))) }
        let probe = path + "/.pgrepl-probe-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw CLIError.io(context) }
        close(fd)
        unlink(probe)
    }

    func filePath(_ name: String) -> String { path + "/" + name }

    /// Where to resume, as pg_receivewal does: at the start of the newest `.partial` segment, or of
    /// the segment after the newest complete one, on that file's timeline; nil when the folder has
    /// no usable segment. Files of the wrong size are skipped with a warning.
    func resumePoint(warn: (String) -> Void) throws(CLIError) -> (start: LSN, timeline: UInt32)? {
        let names = try attempt("reading --dir \(path)") { try FileManager.default.contentsOfDirectory(atPath: path) }
        var best: (timeline: UInt32, segment: UInt64, partial: Bool)?
        for name in names.sorted() {
            guard let found = segments.parse(fileName: name) else { continue }
            var info = stat()
            guard stat(filePath(name), &info) == 0 else { continue }
            guard UInt64(info.st_size) == segments.size else {
                warn("segment file \(name) has \(info.st_size) bytes instead of \(segments.size), skipping it")
                continue
            }
            if let current = best {
                let newer =
                    found.segment > current.segment
                    || (found.segment == current.segment && found.timeline > current.timeline)
                    || (found.segment == current.segment && found.timeline == current.timeline && current.partial
                        && !found.partial)
                guard newer else { continue }
            }
            best = found
        }
        guard let best else { return nil }
        let segment = best.partial ? best.segment : best.segment + 1
        return (segments.start(ofSegment: segment), best.timeline)
    }

    /// Whether a file exists in the folder.
    func contains(_ name: String) -> Bool { access(filePath(name), F_OK) == 0 }

    /// Writes a whole small file (a timeline history) durably (``writeDurably(_:contents:sync:)``).
    func writeFile(_ name: String, contents: String) throws(CLIError) {
        try writeDurably(filePath(name), contents: contents, sync: sync)
    }

    /// fsyncs the folder, so that created and renamed files survive a crash.
    func syncFolder() throws(CLIError) {
        guard sync else { return }
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw CLIError.io("syncing --dir \(path)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CLIError.io("syncing --dir \(path)") }
    }
}

/// One segment file being written, named `….partial` until it is complete.
final class SegmentFile {
    let directory: WALDirectory
    let timeline: UInt32
    let segment: UInt64
    let name: String
    private var fd: Int32

    var partialPath: String { directory.filePath(name + ".partial") }

    /// Opens the segment's `.partial` file: an existing one of the full size is reused (a resumed
    /// segment is written again from its start), a missing or empty one is created and filled with
    /// zeros to the segment size, anything else is an error (pg_receivewal's rules).
    init(directory: WALDirectory, timeline: UInt32, segment: UInt64) throws(CLIError) {
        self.directory = directory
        self.timeline = timeline
        self.segment = segment
        self.name = directory.segments.fileName(timeline: timeline, segment: segment)
        let path = directory.filePath(name + ".partial")
        let context = "opening \(path)"
        fd = open(path, O_RDWR | O_CREAT, 0o600)
        // From here on `self` is whole: when this initializer throws, `deinit` closes `fd`.
        guard fd >= 0 else { throw CLIError.io(context) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CLIError.io(context) }
        let size = directory.segments.size
        switch UInt64(info.st_size) {
        case size:
            return
        case 0:
            try preallocate(context: "preallocating \(path)")
            try directory.syncFolder()
        default:
            throw CLIError(.io, context, "the file has \(info.st_size) bytes; it should have 0 or \(size)")
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    private func preallocate(context: String) throws(CLIError) {
        let zeros = [UInt8](repeating: 0, count: 1 << 16)
        var offset: UInt64 = 0
        while offset < directory.segments.size {
            try write(zeros[...], at: offset, context: context)
            offset += UInt64(zeros.count)
        }
        if directory.sync, fsync(fd) != 0 { throw CLIError.io(context) }
    }

    /// Writes bytes at an offset in the segment.
    func write(_ bytes: some Collection<UInt8>, at offset: UInt64) throws(CLIError) {
        try write(bytes, at: offset, context: "writing \(partialPath)")
    }

    private func write(
        _ bytes: some Collection<UInt8>, at offset: UInt64, context: @autoclosure () -> String
    )
        throws(CLIError)
    {
        let result: Int32? = bytes.withContiguousStorageIfAvailable { buffer in
            var done = 0
            while done < buffer.count {
                let count = pwrite(
                    fd, buffer.baseAddress.map { $0 + done }, buffer.count - done, off_t(offset) + off_t(done))
                if count < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += count
            }
            return 0
        }
        switch result {
        case 0?: return
        case let code?: throw CLIError.io(context(), errno: code)
        case nil: try write(Array(bytes), at: offset, context: context())
        }
    }

    /// fsyncs the file (nothing with `--no-sync`).
    func flush() throws(CLIError) {
        guard directory.sync else { return }
        guard fsync(fd) == 0 else { throw CLIError.io("syncing \(partialPath)") }
    }

    /// The segment is full: fsync, close, rename to its final name, fsync the folder.
    func complete() throws(CLIError) {
        try flush()
        close(fd)
        fd = -1
        guard rename(partialPath, directory.filePath(name)) == 0 else {
            throw CLIError.io("renaming \(partialPath) to \(name)")
        }
        try directory.syncFolder()
    }

    /// Stops writing, keeping the `.partial` file: fsync and close.
    func closeKeepingPartial() throws(CLIError) {
        defer {
            close(fd)
            fd = -1
        }
        try flush()
    }
}

/// Replaces a small file durably: a `.tmp` file beside it, fsync, rename over it, fsync of the
/// folder (without `sync`, the same steps without the fsyncs).
func writeDurably(_ path: String, contents: String, sync: Bool) throws(CLIError) {
    let context = "writing \(path)"
    let temporary = path + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw CLIError.io(context) }
    do throws(CLIError) {
        try Output.writeAll(Array(contents.utf8), to: fd, context: context)
        if sync, fsync(fd) != 0 { throw CLIError.io(context) }
    } catch {
        close(fd)
        throw error
    }
    close(fd)
    guard rename(temporary, path) == 0 else { throw CLIError.io(context) }
    guard sync else { return }
    let folder = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
    guard folder >= 0 else { throw CLIError.io("syncing the folder of \(path)") }
    defer { close(folder) }
    guard fsync(folder) == 0 else { throw CLIError.io("syncing the folder of \(path)") }
}
