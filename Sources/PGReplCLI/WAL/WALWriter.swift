import PGReplication

/// Writes a physical stream's XLogData payloads into segment files at their offsets and keeps the
/// positions to report: ``written`` (in the files) and ``flushed`` (fsync'd, or with `--no-sync`
/// handed to the kernel at the same points).
final class WALWriter {
    let directory: WALDirectory
    private(set) var timeline: UInt32
    /// The end of the data written; the next message must start here.
    private(set) var written: LSN
    /// The end of the data made durable.
    private(set) var flushed: LSN
    private var open: SegmentFile?
    /// Called with the name of each segment completed.
    var onSegmentComplete: (String, LSN) -> Void = { _, _ in }

    init(directory: WALDirectory, timeline: UInt32, start: LSN) {
        self.directory = directory
        self.timeline = timeline
        self.written = start
        self.flushed = start
    }

    private var segments: WALSegments { directory.segments }

    /// Writes a payload that starts at `start`, completing and opening segments as it crosses them.
    func write(_ payload: UnsafeRawBufferPointer, at start: LSN) throws(CLIError) {
        guard start == written else {
            throw CLIError(.server, "receiving WAL", "the server sent WAL at \(start), expected \(written)")
        }
        var remaining = payload[...]
        while !remaining.isEmpty {
            let segment = segments.segment(of: written)
            let offset = segments.offset(of: written)
            let file: SegmentFile
            if let open, open.segment == segment {
                file = open
            } else {
                file = try SegmentFile(directory: directory, timeline: timeline, segment: segment)
                open = file
            }
            let count = Int(min(UInt64(remaining.count), segments.size - offset))
            try file.write(remaining.prefix(count), at: offset)
            remaining = remaining.dropFirst(count)
            written = written.advanced(by: UInt64(count))
            if offset + UInt64(count) == segments.size {
                try file.complete()
                open = nil
                flushed = written
                onSegmentComplete(file.name, written)
            }
        }
    }

    /// Makes everything written durable.
    func flush() throws(CLIError) {
        guard flushed < written else { return }
        try open?.flush()
        flushed = written
    }

    /// Flushes and closes the open segment, which stays `.partial`; returns its file name.
    @discardableResult
    func closeKeepingPartial() throws(CLIError) -> String? {
        guard let file = open else { return nil }
        open = nil
        try file.closeKeepingPartial()
        flushed = written
        return file.name + ".partial"
    }

    /// Continues on another timeline from `start` (a segment start), after closing the open file.
    func switchTimeline(to timeline: UInt32, start: LSN) throws(CLIError) {
        try closeKeepingPartial()
        self.timeline = timeline
        written = start
        flushed = start
    }
}
