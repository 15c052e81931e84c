import ArgumentParser
import Dispatch
import Foundation
import PGOutput
import PGReplication
import PGSupport

/// `pgrepl stream`: pg_recvlogical's job on a pgoutput slot, decoded.
struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract:
            "Stream decoded changes from a pgoutput slot as JSON lines (wal2json's or Debezium's), text or raw pgoutput messages.",
        discussion: """
            A transaction is acknowledged to the server only once its lines left pgrepl's hands: written and \
            fsync'd to a file (--output, or a stdout redirected to one), taken out of a pipe by its reader, or \
            written to a terminal. The slot never moves past the output; a restart continues from the slot's \
            position, repeating what was not acknowledged. Connection loss is \
            retried with backoff for --reconnect-for seconds (default 120, a failover's promotion), each \
            attempt a warning on stderr. SIGINT or SIGTERM stop cleanly (exit 130). On a terminal, a status \
            line on stderr shows the received LSN, the lag and changes/s.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The logical replication slot (pgoutput).") var slot: String
    @Option(
        help: ArgumentHelp("A publication to stream; repeat the option for several.", valueName: "name"))
    var publication: [String] = []
    @Option(
        help: ArgumentHelp(
            "With --format notifications: a channel to write; repeat the option for several (every channel when none).",
            valueName: "name"))
    var channel: [String] = []
    @Flag(help: "Create the slot (pgoutput) when it does not exist.") var createSlot = false
    @Flag(
        help:
            "With --create-slot, when the slot is new: first write the published rows as they were at the slot's consistent point ({\"action\":\"R\",…} lines), then stream from there: no gap, no duplicate."
    )
    var initialSnapshot = false
    @Option(
        help: ArgumentHelp(
            "With --initial-snapshot: connections that copy it together, each reading ranges of a table's blocks under the slot's one snapshot. Tables still come one after another; a table's rows come in no defined order.",
            valueName: "n"))
    var snapshotWorkers = 1
    @Option(
        help: ArgumentHelp("Start here instead of the slot's position.", valueName: "lsn"), transform: parseLSNArgument)
    var start: LSN?
    @Option(
        help: ArgumentHelp(
            "Stop (exit 0) after the first transaction ending at or after this LSN, or once the slot is confirmed past it.",
            valueName: "lsn"),
        transform: parseLSNArgument)
    var end: LSN?
    @Option(
        help:
            "json (wal2json's format-version 2, one object per line), debezium (Debezium's change event envelope), text (readable), raw (each pgoutput message as LSN and hex), or notifications (those of PGNotifications on the --channels, one JSON object per line; the publication defaults to pgrepl_notifications, created without tables when missing)."
    )
    var format: ChangeFormat = .json
    @Option(
        name: .customShort("o"),
        help: ArgumentHelp(
            "A wal2json option for --format json, by wal2json's name (include-xids, include-timestamp, include-lsn, include-pk, add-tables, actions, …); repeat for several.",
            valueName: "name[=value]"),
        transform: Wal2JSONOptions.Setting.argument)
    var pluginOptions: [Wal2JSONOptions.Setting] = []
    @Option(
        help: ArgumentHelp(
            "--format debezium: source.name, as Debezium's topic.prefix.", valueName: "name"))
    var topicPrefix = "pgrepl"
    @Option(
        help:
            "--format debezium: numeric and money values as precise (Debezium's default), double or string (decimal.handling.mode)."
    )
    var decimalHandling: DecimalHandling = .precise
    @Option(
        help:
            "--format debezium: time and timestamp values as adaptive (Debezium's default), adaptive_time_microseconds or connect (time.precision.mode)."
    )
    var timePrecision: TimePrecision = .adaptive
    @Option(
        help:
            "--format debezium: bytea values as bytes (Debezium's default), base64, base64-url-safe or hex (binary.handling.mode)."
    )
    var binaryHandling: BinaryHandling = .bytes
    @Option(
        help: "--format debezium: interval values as numeric (Debezium's default) or string (interval.handling.mode).")
    var intervalHandling: IntervalHandling = .numeric
    @Option(help: "--format debezium: hstore values as json (Debezium's default) or map (hstore.handling.mode).")
    var hstoreHandling: HstoreHandling = .json
    @Flag(
        help:
            "--format debezium: write key<TAB>value lines (the primary key as JSON, then the event) for kcat -K'\\t', and a tombstone (key<TAB>) after each delete."
    )
    var keyValue = false
    @Flag(help: "Ask for binary column values (PostgreSQL 14+).") var binary = false
    @Flag(
        help:
            "Prepared transactions at their PREPARE, with a P line in place of the C line, then CP (COMMIT PREPARED) or RP (ROLLBACK PREPARED) lines of their own; a slot made with --create-slot is a two-phase one (PostgreSQL 15+). Without it a two-phase slot is refused."
    )
    var twoPhase = false
    @Option(
        help: ArgumentHelp(
            "off, on (PostgreSQL 14+) or parallel (16+): the server streams transactions larger than logical_decoding_work_mem before they commit; they are written at their commit, as the others.",
            valueName: "mode"))
    var streaming: StreamingMode = .off
    @Option(
        name: .customLong("protocol"),
        help: ArgumentHelp(
            "The pgoutput protocol version (1-4); default: the highest the server supports.", valueName: "n"))
    var protocolVersion: Int?
    @Option(
        help: ArgumentHelp("Append to this file instead of stdout (fsync'd before acknowledging).", valueName: "file"))
    var output: String?
    @Flag(
        help:
            "When stdout is a pipe or socket, acknowledge lines once written, not once the reader has taken them out (what sits unread when either side dies is then lost)."
    )
    var acknowledgeOnWrite = false
    @Option(
        help: ArgumentHelp(
            "Keep reconnecting a lost connection, with backoff, for this many seconds (a failover's promotion) before giving up (exit 2); each attempt is a warning on stderr.",
            valueName: "seconds"))
    var reconnectFor: Double = 120
    @Option(
        help: ArgumentHelp(
            "Seconds between status updates to the server (what was acknowledged reaches the slot then).",
            valueName: "seconds"))
    var statusInterval: Int = 10
    @Option(
        help: ArgumentHelp(
            "Write a heartbeat message every N seconds and warn on stderr when one is not back within 3 N (at least 5) seconds: the stream is connected but stalled.",
            valueName: "seconds"))
    var heartbeat: Double?
    @Option(
        help: ArgumentHelp(
            "Write heartbeats with this connection string instead of --dsn: the primary's, when the stream decodes on a standby (which refuses them).",
            valueName: "dsn"))
    var heartbeatDSN: String?
    @Flag(
        help:
            "Write a transaction only once a new snapshot on the server sees it: a reader that reads the row back never gets the old one, though a commit can reach the stream before other sessions see it (while it waits for a synchronous standby)."
    )
    var whenVisible = false
    @Option(
        help: ArgumentHelp(
            "With --when-visible: the server whose snapshots must see the transaction, instead of --dsn (a standby: once it replayed the commit).",
            valueName: "dsn"))
    var visibleOn: String?
    @Flag(
        help:
            "Read an update's unchanged TOASTed values (which the server does not send under REPLICA IDENTITY DEFAULT) back by key once the transaction is visible, and write them: the row's current values. A row deleted meanwhile keeps the placeholder (json leaves the column out; debezium writes its placeholder)."
    )
    var fillToast = false
    @Flag(
        help:
            "Write a line when a table's columns change, before its first change of the new shape ({\"action\":\"S\",…}; off by default, since wal2json has no such line)."
    )
    var schemaChanges = false
    @Option(
        help: ArgumentHelp(
            "Copy the published rows of this table while streaming, in key order, in chunks between watermarks ({\"action\":\"R\",…} lines); repeat the option for several tables. Needs --backfill-state.",
            valueName: "table"))
    var backfill: [String] = []
    @Option(
        help: ArgumentHelp(
            "Where the backfill's progress is kept, updated after each chunk is written: a restart resumes after it. Alone, resumes the unfinished backfill in FILE.",
            valueName: "file"))
    var backfillState: String?
    @Option(help: ArgumentHelp("Rows per backfill chunk.", valueName: "n")) var backfillChunk = 1000
    @Option(
        help: ArgumentHelp(
            "Connections that read each backfill chunk together, each a part of its key range, between the chunk's watermarks.",
            valueName: "n"))
    var backfillWorkers = 1

    func validate() throws {
        if publications.isEmpty { throw ValidationError("Missing expected argument '--publication <name>'") }
        if !channel.isEmpty, format != .notifications {
            throw ValidationError("--channel needs --format notifications")
        }
        if let protocolVersion, !(1...4).contains(protocolVersion) {
            throw ValidationError("--protocol must be 1, 2, 3 or 4")
        }
        if let protocolVersion, let feature = ServerFeature.needed(for: streaming.mode),
            let needed = feature.protocolVersion, protocolVersion < needed
        {
            throw ValidationError(
                "--streaming \(streaming) needs --protocol \(needed) or later (PostgreSQL \(feature.since)+)")
        }
        if let start, let end, end < start { throw ValidationError("--end \(end) is before --start \(start)") }
        guard statusInterval >= 1 else { throw ValidationError("--status-interval must be at least 1") }
        guard reconnectFor >= 0, reconnectFor.isFinite else {
            throw ValidationError("--reconnect-for must be a number of seconds, 0 or more")
        }
        if let heartbeat, !(heartbeat >= 0.1 && heartbeat.isFinite) {
            throw ValidationError("--heartbeat must be at least 0.1 seconds")
        }
        if slot.utf8.count > 63 {
            throw ValidationError("--slot must be at most 63 bytes long (the server would cut it): \(slot)")
        }
        if initialSnapshot, !createSlot { throw ValidationError("--initial-snapshot needs --create-slot") }
        let workers = ChangeStream.copyWorkersRange
        guard workers.contains(snapshotWorkers) else {
            throw ValidationError("--snapshot-workers must be \(workers.lowerBound) to \(workers.upperBound)")
        }
        if snapshotWorkers > 1, !initialSnapshot {
            throw ValidationError("--snapshot-workers needs --initial-snapshot")
        }
        guard workers.contains(backfillWorkers) else {
            throw ValidationError("--backfill-workers must be \(workers.lowerBound) to \(workers.upperBound)")
        }
        if backfillWorkers > 1, backfill.isEmpty, backfillState == nil {
            throw ValidationError("--backfill-workers needs --backfill")
        }
        // Raw lines are the server's messages: snapshot and backfill rows and schema changes have none.
        if initialSnapshot, format == .raw {
            throw ValidationError("--initial-snapshot needs --format json, debezium or text")
        }
        if heartbeatDSN != nil, heartbeat == nil { throw ValidationError("--heartbeat-dsn needs --heartbeat") }
        if visibleOn != nil, !whenVisible { throw ValidationError("--visible-on needs --when-visible") }
        // Raw lines are written as the server's messages arrive, before a transaction's commit.
        if whenVisible, format == .raw { throw ValidationError("--when-visible needs --format json, debezium or text") }
        if fillToast, format == .raw { throw ValidationError("--fill-toast needs --format json, debezium or text") }
        if fillToast, streaming != .off {
            throw ValidationError(
                "--fill-toast needs --streaming off: a streamed transaction's lines are written before its commit, when nothing can be read back"
            )
        }
        if twoPhase, format == .debezium {
            throw ValidationError(
                "--two-phase needs --format json, text or raw (Debezium has no prepared transactions)")
        }
        if schemaChanges, format == .raw { throw ValidationError("--schema-changes needs --format json or text") }
        if !backfill.isEmpty, backfillState == nil {
            throw ValidationError(
                "--backfill needs --backfill-state FILE: where its progress is kept, so that a restart resumes it")
        }
        if backfillState != nil, format == .raw {
            throw ValidationError("--backfill needs --format json, debezium or text")
        }
        guard backfillChunk >= 1 else { throw ValidationError("--backfill-chunk must be at least 1") }
        if !pluginOptions.isEmpty, format != .json { throw ValidationError("-o needs --format json") }
        if format == .debezium, binary {
            // Types pgrepl keeps as they came (ranges, macaddr, tsvector …) would be written as
            // their binary form; Debezium's mappings start from their text.
            throw ValidationError("--binary does not go with --format debezium, which maps the values' text")
        }
        if format != .debezium, !debeziumOptions.isDefault {
            throw ValidationError(
                "--key-value, --topic-prefix, --decimal-handling, --time-precision, --binary-handling, --interval-handling and --hstore-handling need --format debezium"
            )
        }
    }

    /// The publications to stream: `--publication`, or for `--format notifications` without one
    /// `PGNotifications`' own.
    private var publications: [String] {
        publication.isEmpty && format == .notifications
            ? [PGNotifications.defaultName] : publication
    }

    /// The formats' options, as the command line gave them.
    private var formatOptions: FormatOptions {
        FormatOptions(
            wal2json: Wal2JSONOptions(pluginOptions),
            debezium: debeziumOptions, channels: Set(channel))
    }

    private var debeziumOptions: DebeziumOptions {
        DebeziumOptions(
            topicPrefix: topicPrefix, decimalHandling: decimalHandling, timePrecision: timePrecision,
            binaryHandling: binaryHandling, intervalHandling: intervalHandling, hstoreHandling: hstoreHandling,
            keyValue: keyValue)
    }

    func run() throws(CLIError) {
        // The output first: an unwritable path fails before anything connects.
        let out = try output.map { path throws(CLIError) in try LineOutput(path: path) } ?? LineOutput()
        var succeeded = false
        defer { out.finish(discardIfUnused: !succeeded) }
        let serverVersion = try preflight()
        let stopper = SignalStopper()
        defer { stopper.cancel() }
        // Log rotation: SIGHUP reopens --output before the next write.
        let hangup = output.map { _ in SignalAction(SIGHUP) { [reopen = out.reopen] in reopen.request() } }
        defer { hangup?.cancel() }
        let summary = try stream(to: out, serverVersion: serverVersion, stopper: stopper)
        succeeded = true
        if let signal = stopper.signalReceived {
            throw CLIError(.interrupted, "", "stopped by \(signal == SIGTERM ? "SIGTERM" : "SIGINT"); \(summary)")
        }
    }

    /// Checks over an ordinary connection what the replication connection would only report late
    /// or never: the server is reachable, the slot exists and is a pgoutput slot of this database,
    /// and the publications exist. Returns the server version.
    private func preflight() throws(CLIError) -> Int {
        let sql = try connection.sqlConnection()
        defer { sql.close() }
        let context = "checking slot \"\(slot)\""
        let status = try attempt(context) { try SlotStatus.read(slot, on: sql) }
        if let status {
            if let mismatch = status.mismatch(twoPhase: twoPhase) {
                let hint: String? =
                    switch mismatch {
                    case .decodesPreparedTransactions:
                        "add --two-phase to write them as P lines with their CP or RP lines later"
                            + (format == .debezium ? " (--format json, text or raw)" : "")
                    case .otherDatabase(let database, _): "connect to dbname=\(database)"
                    case .notPGOutput: nil
                    }
                throw CLIError(.usage, context, "\(mismatch)", hint: hint)
            }
        } else if !createSlot {
            throw CLIError(
                .server, context, "replication slot \"\(slot)\" does not exist",
                sqlState: SQLState.undefinedObject.rawValue,
                hint: "create it with --create-slot or pgrepl slot create")
        }
        // The notifications' publication (of no table) is created when it is missing.
        if format != .notifications,
            let missing = try attempt("checking publications", { try Publication.firstMissing(publications, on: sql) })
        {
            throw CLIError(
                .server, "checking publications", "publication \"\(missing)\" does not exist",
                sqlState: SQLState.undefinedObject.rawValue, hint: "CREATE PUBLICATION \(missing) FOR TABLE …")
        }
        return sql.serverVersion
    }

    private func streamConfiguration(serverVersion: Int) -> ChangeStream.Configuration {
        var configuration = ChangeStream.Configuration(dsn: connection.conninfo, slot: slot, publications: publications)
        if format == .notifications { configuration.createPublication = .tables([]) }
        configuration.createSlot = createSlot
        configuration.initialSnapshot = initialSnapshot
        configuration.initialSnapshotWorkers = snapshotWorkers
        configuration.twoPhase = twoPhase
        configuration.binary = binary
        configuration.streaming = streaming.mode
        configuration.protocolVersion = protocolVersion
        configuration.startLSN = start
        configuration.messages = ServerVersion(number: serverVersion).supports(.logicalDecodingMessages)
        configuration.acknowledgement = .manual
        configuration.reconnect = ChangeStream.ReconnectPolicy(
            maxDuration: .seconds(exactly: reconnectFor), maxDelay: .seconds(5))
        configuration.statusInterval = .seconds(statusInterval)
        configuration.heartbeat = heartbeat.map {
            ChangeStream.Heartbeat(interval: .seconds(exactly: $0), dsn: heartbeatDSN)
        }
        configuration.visibility = whenVisible ? ChangeStream.VisibilityGate(dsn: visibleOn) : nil
        configuration.unchangedToast = fillToast ? .reselect : .asIs
        return configuration
    }

    /// Every format, through ``ChangeStream``: each transaction is written, synced, then acknowledged.
    private func stream(
        to out: LineOutput, serverVersion: Int, stopper: SignalStopper
    ) throws(CLIError) -> String {
        var configuration = streamConfiguration(serverVersion: serverVersion)
        var progressFile = try backfillState.flatMap { path throws(CLIError) in
            try BackfillStateFile.plan(requested: backfill, slot: slot, path: path)
        }
        if let state = progressFile, let path = backfillState {
            if state.checkpoint.isComplete {
                Output.printError(
                    "pgrepl: the backfill of \(state.requested.joined(separator: ", ")) in \(path) is complete; remove the file to copy again"
                )
            } else {
                var backfill = ChangeStream.Backfill(resuming: state.checkpoint, chunkSize: backfillChunk)
                backfill.workers = backfillWorkers
                configuration.backfill = backfill
            }
        }
        configuration.delivery = .chunked(batchSize: 1000)
        // wal2json's and Debezium's lines copy the server's text bytes (the tuples) where they
        // can, and Debezium's decode the other values one by one; the text format writes decoded
        // values, and a row does not keep both. Raw lines need neither.
        configuration.keepTuples = format == .json || format == .debezium
        // wal2json's lines copy the server's text bytes: nothing to decode in text mode.
        configuration.decodeValues = format == .json ? binary : format == .text
        let encoder = try format.encoder(formatOptions) { () throws(CLIError) in
            try connection.catalogConnection(policy: configuration.reconnect) { [stopper] in
                stopper.signalReceived != nil
            }
        }
        let stream = ChangeStream(configuration, logger: WarningLog.logger())
        stopper.attach { stream.stop() }
        let status = StatusLine {
            let metrics = stream.metrics
            return StreamProgress(
                received: metrics.serverWALEnd, lagBytes: metrics.lagBytes, changesPerSecond: metrics.changesPerSecond,
                transactions: metrics.transactions, copy: metrics.copy)
        }
        defer { status.stop() }
        let writer = StreamWriter(encoder: encoder, output: out, status: status)
        writer.schemaChanges = schemaChanges
        let reader = ReaderAcknowledgement(output: out, onWrite: acknowledgeOnWrite) { stream.acknowledge($0) }
        defer { reader.stop() }
        // An idle server: stop once the slot's flush position (moved by keepalives only when
        // everything received was acknowledged) passes --end.
        let watch = end.map { end in
            Periodic(every: 0.2) { if stream.metrics.flushedLSN >= end { stream.stop() } }
        }
        defer { watch?.cancel() }
        do {
            func handle(_ event: PGChangeEvent) throws {
                let acknowledgeable = try writer.write(event)
                // A chunk's lines are written and synced: its progress is kept before it is acknowledged.
                if case .snapshot(let batch) = event, let progress = batch.backfill, let path = backfillState,
                    var state = progressFile
                {
                    state.checkpoint = progress.checkpoint
                    try state.write(to: path)
                    progressFile = state
                }
                if let lsn = acknowledgeable {
                    try reader.written(lsn, bytesWritten: out.bytesWritten)
                    if let end, lsn >= end {
                        // Everything up to --end is acknowledged once the reader has taken it.
                        try reader.drain { stopper.signalReceived != nil }
                        stream.stop()
                    }
                }
            }
            if encoder.writesRawMessages {
                try stream.consume(rawMessages: { try writer.writeRaw($0, lsn: $1) }, handle)
            } else {
                try stream.consume(handle)
            }
        } catch {
            // A signal that cut the initial snapshot short is a stop, as anywhere else.
            if let signal = stopper.signalReceived, (error as? ChangeStreamError)?.kind == .snapshotIncomplete {
                throw CLIError(
                    .interrupted, "",
                    "stopped by \(signal == SIGTERM ? "SIGTERM" : "SIGINT") during the initial snapshot; no slot was"
                        + " created, so the next run copies again")
            }
            throw CLIError.wrapping(error, context: "streaming changes")
        }
        let acknowledged = stream.metrics.acknowledgedLSN
        return "\(counted(writer.transactions, "transaction")) written"
            + (acknowledged > 0 ? ", acknowledged up to \(acknowledged)" : "")
    }
}

/// `--streaming`.
enum StreamingMode: String, CaseIterable, ExpressibleByArgument, Sendable {
    case off, on, parallel

    var mode: PGOutputDecoder.StreamingMode {
        switch self {
        case .off: .off
        case .on: .on
        case .parallel: .parallel
        }
    }
}

// Debezium's options by their names on the command line (the options themselves stay free of
// ArgumentParser, so the encoders' fuzz target builds without it).
extension DecimalHandling: ExpressibleByArgument {}
extension TimePrecision: ExpressibleByArgument {}
extension BinaryHandling: ExpressibleByArgument {}
extension IntervalHandling: ExpressibleByArgument {}
extension HstoreHandling: ExpressibleByArgument {}
