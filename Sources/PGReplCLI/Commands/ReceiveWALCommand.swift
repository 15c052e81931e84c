import ArgumentParser
import Foundation
import PGReplication

/// `pgrepl receivewal`: pg_receivewal's job, physical WAL into segment files.
struct ReceiveWALCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receivewal",
        abstract: "Stream physical WAL into segment files, as pg_receivewal does.",
        discussion: """
            Segments are named as PostgreSQL names them; the one being written is TTTTTTTTXXXXXXXXYYYYYYYY.partial, \
            preallocated to the segment size, and is fsync'd and renamed when complete. A restart resumes at the \
            start of the newest .partial segment, or of the segment after the newest complete one; with an empty \
            folder it starts at the slot's restart_lsn (PostgreSQL 15+) or the server's current position, rounded \
            down to a segment start. At the end of a timeline it writes the new timeline's .history file and \
            continues on it. SIGINT or SIGTERM stop it cleanly (exit 130), keeping the .partial file.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Option(help: ArgumentHelp("The folder to write segments into (it must exist).", valueName: "dir"))
    var dir: String
    @Option(help: "A physical replication slot to stream from (it keeps the server's WAL until received).")
    var slot: String?
    @Flag(help: "Create the --slot (physical, reserving WAL) when it does not exist yet, then stream.")
    var createSlot = false
    @Option(help: ArgumentHelp("Seconds between status updates to the server.", valueName: "seconds"))
    var statusInterval: Int = 10
    @Flag(help: "Do not fsync (faster, not crash-safe); positions are reported as flushed when written.")
    var noSync = false
    @Option(
        help: ArgumentHelp("Stop (exit 0) once WAL up to this LSN is written.", valueName: "lsn"),
        transform: parseLSNArgument)
    var endpos: LSN?
    @Flag(name: [.short, .long], help: "Report progress on stderr.")
    var verbose = false

    func validate() throws {
        if createSlot, slot == nil { throw ValidationError("--create-slot needs --slot") }
        guard statusInterval >= 1 else { throw ValidationError("--status-interval must be at least 1") }
    }

    func log(_ text: @autoclosure () -> String) {
        if verbose { Output.printError("pgrepl: " + text()) }
    }

    func run() throws(CLIError) {
        try WALDirectory.checkWritable(dir)
        let connection = try connection.replicationConnection(.physical)
        defer { connection.close() }
        let cursor = try attempt("opening a cursor") { try connection.cursor() }
        // Only what is written and fsync'd may be reported as flushed.
        cursor.automaticFlush = false
        if createSlot, let slot { try create(slot, on: cursor) }

        let system = try attempt("IDENTIFY_SYSTEM") { try cursor.identifySystem() }
        let sizeText = try attempt("reading wal_segment_size") { try cursor.show("wal_segment_size") }
        guard let segments = WALSegments(setting: sizeText) else {
            throw CLIError(.server, "reading wal_segment_size", "unexpected value \"\(sizeText)\"")
        }
        let directory = WALDirectory(path: dir, segments: segments, sync: !noSync)
        let (position, startTimeline) = try startPoint(directory, cursor: cursor, system: system)
        let writer = WALWriter(directory: directory, timeline: startTimeline, start: segments.segmentStart(position))
        writer.onSegmentComplete = { name, end in log("finished segment \(name) at \(end)") }

        let stopper = SignalStopper()
        defer { stopper.cancel() }
        while true {
            if let signal = stopper.signalReceived { throw try interrupted(signal, writer) }
            try fetchHistory(writer.timeline, directory: directory, cursor: cursor)
            log("starting at \(writer.written) on timeline \(writer.timeline)")
            try attempt("starting replication") {
                try cursor.startReplication(
                    slotName: slot, slotType: .physical, startLSN: writer.written, timeline: writer.timeline,
                    statusInterval: Double(statusInterval))
            }
            stopper.attach(cursor.makeStopHandle())
            guard try stream(cursor, into: writer) else {
                try attempt("stopping replication") { _ = try cursor.stopReplication() }
                let kept = try writer.closeKeepingPartial()
                log("reached --endpos \(endpos?.description ?? "")" + (kept.map { "; kept \($0)" } ?? ""))
                return
            }
            guard let end = cursor.streamEnd else { continue }
            if end.reason == .stopped { throw try interrupted(stopper.signalReceived ?? SIGINT, writer) }
            guard let next = end.nextTimeline, let nextStart = end.nextTimelineStart else {
                try writer.closeKeepingPartial()
                throw CLIError(.connection, "streaming WAL", "the server ended the stream at \(writer.written)")
            }
            log("timeline \(writer.timeline) ended at \(nextStart); continuing on timeline \(next)")
            try writer.switchTimeline(to: next, start: segments.segmentStart(nextStart))
        }
    }

    /// Streams until the server ends the stream or a stop handle stops it (true), or `--endpos`
    /// is reached (false). The open segment is flushed when the stream has caught up with the
    /// server and at least every status interval while it has not; the positions reported are
    /// what was written and flushed.
    private func stream(_ cursor: ReplicationCursor, into writer: WALWriter) throws(CLIError) -> Bool {
        let clock = ContinuousClock()
        var lastFlush = clock.now
        let interval = Duration.seconds(statusInterval)
        do {
            try cursor.consumeStream { message in
                let segmentBefore = writer.directory.segments.segment(of: writer.flushed)
                try message.withUnsafePayload { payload in try writer.write(payload, at: message.dataStart) }
                let done = endpos.map { writer.written >= $0 } ?? false
                if done || message.walEnd <= writer.written || clock.now - lastFlush >= interval {
                    try writer.flush()
                    lastFlush = clock.now
                }
                // Completed segments and the end are reported at once, the rest on the status interval.
                let completed = writer.directory.segments.segment(of: writer.flushed) != segmentBefore
                try message.cursor.sendFeedback(
                    writeLSN: writer.written, flushLSN: writer.flushed, force: completed || done)
                if done { throw StopReplication() }
            }
            return true
        } catch is StopReplication {
            return false
        } catch {
            let failure = CLIError.wrapping(error, context: "streaming WAL")
            _ = try? writer.closeKeepingPartial()
            throw failure
        }
    }

    /// Creates a physical slot that reserves WAL; an existing slot is fine.
    private func create(_ slot: String, on cursor: ReplicationCursor) throws(CLIError) {
        do {
            try cursor.createReplicationSlot(slot, slotType: .physical, reserveWAL: true)
            log("created slot \"\(slot)\"")
        } catch let error as PGError where error.sqlState == .duplicateObject {
            log("slot \"\(slot)\" exists already")
        } catch {
            throw CLIError.wrapping(error, context: "creating slot \"\(slot)\"")
        }
    }

    /// Where to start: the folder's resume point, else the slot's restart position (PostgreSQL
    /// 15+), else the server's current position.
    private func startPoint(
        _ directory: WALDirectory, cursor: ReplicationCursor, system: IdentifySystem
    )
        throws(CLIError) -> (LSN, UInt32)
    {
        if let resume = try directory.resumePoint(warn: { Output.printError("pgrepl: warning: " + $0) }) {
            log("resuming from the files in \(directory.path)")
            return resume
        }
        if let slot, cursor.connection.version.supports(.replicationCommandOptionLists) {
            let context = "reading slot \"\(slot)\""
            guard let position = try attempt(context, { try cursor.readReplicationSlot(slot) }) else {
                throw CLIError.slotNotFound(slot, context: context)
            }
            guard position.slotType == "physical" else {
                throw CLIError(
                    .usage, context, "\"\(slot)\" is a \(position.slotType) slot; receivewal needs a physical slot")
            }
            if let lsn = position.restartLSN, lsn != .zero, let timeline = position.restartTimeline {
                log("starting from the slot's restart_lsn")
                return (lsn, timeline)
            }
        }
        return (system.xlogPosition, system.timeline)
    }

    /// Writes the timeline's history file when the folder does not have it (timelines after 1).
    private func fetchHistory(_ timeline: UInt32, directory: WALDirectory, cursor: ReplicationCursor) throws(CLIError) {
        let name = WALSegments.historyFileName(timeline: timeline)
        guard timeline > 1, !directory.contains(name) else { return }
        let history = try attempt("TIMELINE_HISTORY \(timeline)") { try cursor.timelineHistory(timeline) }
        try directory.writeFile(name, contents: history.content)
        log("wrote \(name)")
    }

    /// The error for a stop by signal, after flushing and closing the open segment.
    private func interrupted(_ signal: Int32, _ writer: WALWriter) throws(CLIError) -> CLIError {
        let kept = try writer.closeKeepingPartial()
        let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
        return CLIError(
            .interrupted, "",
            "stopped by \(name); WAL written and flushed up to \(writer.flushed)"
                + (kept.map { ", \($0) kept" } ?? ""))
    }
}
