import Foundation
import PGOutput

extension ReplicationCursor {
    // MARK: - Starting

    /// `START_REPLICATION`: starts streaming from a slot (or, physical only, without one).
    ///
    /// The command is built as psycopg2 builds it, with the LSN in the server's own form:
    /// `START_REPLICATION SLOT "name" LOGICAL 0/0 ("key" 'value', …)` for logical;
    /// `START_REPLICATION [SLOT "name" ]X/X[ TIMELINE n]` for physical (no `PHYSICAL` keyword).
    ///
    /// - Parameters:
    ///   - slotName: required for logical replication.
    ///   - slotType: the connection's type by default.
    ///   - startLSN: where to start; `0/0` on a logical slot means "where the slot is".
    ///   - timeline: physical only; 0 means the server's current timeline.
    ///   - options: output-plugin options (logical only), in order.
    ///   - decode: deliver payloads as text (test_decoding, wal2json); refused with pgoutput options.
    ///   - statusInterval: seconds between timed status updates, at least 1.
    /// - Throws: `PGError`: `.programming` for bad arguments (psycopg2's checks and messages), or the
    ///   server's error (missing slot: `.programming` 42704; unknown plugin option: `.data` 22023).
    ///   After an error the cursor can start again.
    ///
    /// The corresponding libpq functions are `PQexec` (the command), `PQescapeIdentifier` (the names) and `PQsetnonblocking`.
    public func startReplication(
        slotName: String? = nil, slotType: ReplicationType? = nil, startLSN: LSN = 0, timeline: UInt32 = 0,
        options: ReplicationOptions = [:], decode: Bool = false, statusInterval: Double = 10
    ) throws {
        try checkOpen()
        var command = "START_REPLICATION "
        let type = slotType ?? connection.replicationType
        switch type {
        case .logical:
            guard let slotName, !slotName.isEmpty else {
                throw PGError.programming("slot name is required for logical replication")
            }
            command += "SLOT \(try quoteIdentifier(slotName, what: "the slot name")) LOGICAL "
        case .physical:
            if let slotName, !slotName.isEmpty {
                command += "SLOT \(try quoteIdentifier(slotName, what: "the slot name")) "
            }
        }
        command += startLSN.description
        if timeline != 0 {
            guard type == .physical else {
                throw PGError.programming("cannot specify timeline for logical replication")
            }
            command += " TIMELINE \(timeline)"
        }
        if !options.isEmpty {
            guard type == .logical else {
                throw PGError.programming("cannot specify output plugin options for physical replication")
            }
            if decode, options["proto_version"] != nil {
                throw PGError.programming("decode: true cannot be used with pgoutput, whose output is binary")
            }
            let rendered = try options.map { key, value in
                "\(try quoteIdentifier(key, what: "an option name")) \(try quoteLiteral(value.description, what: "an option value"))"
            }
            command += " (" + rendered.joined(separator: ", ") + ")"
        }
        try start(command, type: type, decode: decode, statusInterval: statusInterval)
    }

    /// Sends a START_REPLICATION command written by the caller.
    ///
    /// - Parameters:
    ///   - command: the whole command.
    ///   - decode: deliver payloads as text.
    ///   - statusInterval: seconds between timed status updates, at least 1.
    ///
    /// The corresponding libpq functions are `PQexec` and `PQsetnonblocking`.
    public func startReplicationExpert(_ command: String, decode: Bool = false, statusInterval: Double = 10) throws {
        try checkOpen()
        guard !command.isEmpty else { throw PGError.programming("can't execute an empty query") }
        try start(command, type: Self.replicationType(of: command), decode: decode, statusInterval: statusInterval)
    }

    /// The kind of stream a START_REPLICATION command asks for: logical when the keyword `LOGICAL`
    /// follows `START_REPLICATION SLOT name` (the replication grammar of `repl_gram.y`); anything
    /// else is physical.
    static func replicationType(of command: String) -> ReplicationType {
        var words: [String] = []
        var word = ""
        var quoted = false
        // By scalar: a quote followed by a combining mark is one Character.
        for character in command.unicodeScalars {
            if quoted {
                word.unicodeScalars.append(character)
                if character == "\"" { quoted = false }
            } else if character == "\"" {
                word.unicodeScalars.append(character)
                quoted = true
            } else if character.properties.isWhitespace {
                if !word.isEmpty { words.append(word) }
                word = ""
            } else {
                word.unicodeScalars.append(character)
            }
            if words.count >= 4 { break }
        }
        if !word.isEmpty { words.append(word) }
        guard words.count >= 4, words[0].uppercased() == "START_REPLICATION", words[1].uppercased() == "SLOT" else {
            return .physical
        }
        return words[3].uppercased() == "LOGICAL" ? .logical : .physical
    }

    /// Sends a START whose kind is known, and hands the connection to a new engine.
    private func start(_ command: String, type: ReplicationType, decode: Bool, statusInterval: Double) throws {
        guard statusInterval >= 1 else { throw PGError.programming("statusInterval must be >= 1 (sec)") }
        guard !command.utf8.contains(0) else { throw PGError.programming("the command must not contain NUL bytes") }
        try checkNotStreaming()
        if type == .logical, connection.stoppedLogicalStream {
            throw PGError(
                .notSupported,
                "this connection already stopped a logical stream, and PostgreSQL ends a second logical START on it at once; open a new connection to stream again",
                command: command)
        }
        clearResult()
        let senderTimeout = readSenderTimeout()
        guard let result = try pq.execute(command, interruption: connection.interruption) else {
            throw PGError.from(nil, connection: pq, command: command)
        }
        guard result.status == .copyBoth else {
            if result.status == .fatalError || result.status == .badResponse || result.status == .nonfatalError {
                throw PGError.from(result, connection: pq, command: command)
            }
            throw PGError(
                .programming, "the command did not start a replication stream (\(result.statusName))", command: command)
        }
        beginStreaming(
            command: command, type: type, decode: decode, statusInterval: statusInterval, senderTimeout: senderTimeout)
    }

    /// The server's `wal_sender_timeout` in seconds, when `SHOW` can read it.
    func readSenderTimeout() -> Double? {
        guard let result = try? pq.execute("SHOW wal_sender_timeout", interruption: connection.interruption),
            result.status == .tuplesOK,
            let text = result.value(row: 0, column: 0)
        else { return nil }
        return parseDuration(text)
    }

    func beginStreaming(
        command: String, type: ReplicationType, decode: Bool, statusInterval: Double, senderTimeout: Double?
    ) {
        pq.setNonblocking(true)
        let engine = CopyBothEngine(
            pq: pq, logger: logger, command: command, replicationType: type, decode: decode,
            settings: FeedbackMachine.Settings(
                statusInterval: statusInterval, automaticFlush: automaticFlush, promptInterval: promptFeedbackInterval),
            senderTimeout: senderTimeout, receiveTimeout: receiveTimeout, signal: stopSignal)
        self.engine = engine
        connection.activeEngine = engine
        readAhead.removeAll()
        endReported = false
        _ = stopSignal.take()
        logger.debug("replication started", metadata: ["pgrepl.command": "\(command)"])
    }

    // MARK: - Reading

    /// Reads one data message if one is available, without blocking: psycopg2's `read_message()`.
    ///
    /// Sends a status update first when one is due, reads the socket at most once, answers
    /// keepalives, and returns the first data message found, or nil. Loop with `poll` on
    /// ``fileno()`` between calls.
    ///
    /// When the server ends the stream, the call returns nil and ``streamEnd`` says how it ended
    /// (psycopg2 cannot tell this from "no data yet"); calls after that throw.
    ///
    /// The corresponding libpq functions are `PQconsumeInput` and `PQgetCopyData` (and `PQputCopyData` and `PQflush` for feedback).
    public func readMessage() throws -> ReplicationMessage? {
        try checkOpen()
        guard let engine else {
            throw PGError.programming("readMessage(): not replicating; call startReplication() first")
        }
        // Frames `consumeStream` read ahead and did not deliver (its consumer threw) come first.
        if let frame = readAhead.next() { return try makeMessage(frame, engine) }
        switch try engine.withLock({ try engine.readOneLocked() }) {
        case .message(let frame):
            return try makeMessage(frame, engine)
        case .nothing:
            return nil
        case .ended(let end):
            if endReported { throw PGError.programming("not replicating: the stream ended (\(end.reason))") }
            endReported = true
            return nil
        }
    }

    func makeMessage(_ frame: CopyBothEngine.Frame, _ engine: CopyBothEngine) throws -> ReplicationMessage {
        let (buffer, header) = (frame.buffer, frame.header)
        var text: String?
        if engine.decode {
            let payload = UnsafeRawBufferPointer(rebasing: buffer.bytes[XLogDataHeader.size...])
            guard let decoded = String(validating: payload, as: UTF8.self) else {
                throw PGError(.data, "the message at \(header.dataStart) is not valid UTF-8 text (decode: true)")
            }
            text = decoded
        }
        return ReplicationMessage(buffer: buffer, header: header, text: text, cursor: self)
    }

    /// Calls `consume` for each data message until the consumer throws, the stream is stopped,
    /// or the server ends it: psycopg2's `consume_stream`.
    ///
    /// Errors thrown by `consume`, ``StopReplication`` among them, propagate unchanged; the stream
    /// stays open and `consumeStream` may be called again. Unlike psycopg2, the call returns
    /// normally when the server ends the stream (see ``streamEnd``), or after
    /// ``stopReplication()`` or a ``ReplicationStopHandle``.
    ///
    /// While `consume` runs, a keeper thread keeps the stream alive: it answers keepalives that ask
    /// for a reply and sends the timed status updates, so a consumer slower than the server's
    /// `wal_sender_timeout` does not get the connection closed. Frames it reads meanwhile are kept
    /// (up to 16 MiB; past that it stops reading and lets TCP hold the server back) and delivered
    /// next, in order. The keeper uses libpq only while `consume` runs, under the cursor's lock.
    ///
    /// - Parameters:
    ///   - keepaliveInterval: replaces the START's status interval (seconds, at least 1).
    ///   - idleInterval: how long no message may arrive before `onIdle` is called (seconds, more
    ///     than 0); it is called again after each further interval without one. Nil: never.
    ///   - onIdle: called on the calling thread while the stream is idle (psycopg2 users write this
    ///     loop themselves around `read_message` and `select`); errors it throws propagate as the
    ///     consumer's do.
    ///   - consume: the consumer, called on the calling thread.
    ///
    /// The corresponding libpq functions are `PQconsumeInput`, `PQgetCopyData`, `PQputCopyData`, `PQflush` and `PQsocket` (for `poll`).
    public func consumeStream(
        keepaliveInterval: Double? = nil, idleInterval: Double? = nil, onIdle: () throws -> Void = {},
        _ consume: (ReplicationMessage) throws -> Void
    ) throws {
        try checkOpen()
        if let keepaliveInterval, !(keepaliveInterval >= 1) {
            throw PGError.programming("keepaliveInterval must be >= 1 (sec)")
        }
        if let idleInterval, !(idleInterval > 0 && idleInterval.isFinite) {
            throw PGError.programming("idleInterval must be > 0 (sec)")
        }
        guard !consuming else {
            throw PGError.programming("consumeStream() cannot be called from inside its own consumer")
        }
        guard let engine, engine.withLock({ engine.isStreaming }) else {
            throw PGError.programming("consumeStream(): not replicating; call startReplication() first")
        }
        if let keepaliveInterval { engine.feedback.withLock { $0.machine.settings.statusInterval = keepaliveInterval } }
        consuming = true
        engine.startKeeper()
        defer {
            engine.stopKeeper()
            consuming = false
        }
        defer { engine.consumerReturned() }
        let coalescing = readCoalescing.flatMap { $0 > 0 ? min($0, 1) : nil }
        // Whether to read the socket: after a wake-up, yes; once that data is used up, poll first
        // (or pause, then read). `sinceRead`: frames the last socket read brought.
        var readSocket = true
        var sinceRead = 0
        var lastActivity = POSIX.monotonicNow()
        while true {
            if engine.closed.load(ordering: .acquiring) { throw CopyBothEngine.closedError }
            if stopSignal.take() {
                try stopReplication()
                return
            }
            if let frame = readAhead.next() {
                try consume(try makeMessage(frame, engine))
                if idleInterval != nil { lastActivity = POSIX.monotonicNow() }
                continue
            }
            let before = readAhead.frames.count
            let outcome = try engine.withLock {
                try engine.readBatchLocked(
                    readSocket: readSocket, limit: ReadAhead.limit, markBusy: true, into: &readAhead.frames)
            }
            switch outcome {
            case .frames:
                sinceRead = readSocket ? readAhead.frames.count - before : sinceRead + readAhead.frames.count - before
                readSocket = false
            case .nothing:
                if let interval = idleInterval {
                    let now = POSIX.monotonicNow()
                    if now - lastActivity >= interval {
                        try onIdle()
                        lastActivity = now
                    }
                }
                switch Self.nextRead(
                    afterSocketRead: readSocket, sinceRead: sinceRead, coalescing: coalescing,
                    betweenTransactions: betweenTransactions)
                {
                case .poll: try engine.waitForInput(atMost: idleInterval)
                case .pause(let seconds): POSIX.pause(seconds)
                case .readAgain: break
                }
                readSocket = true
            case .ended:
                endReported = true
                return
            }
        }
    }

    /// How `consumeStream` reads next once the messages it has are used up.
    enum NextRead: Equatable {
        /// Wait for the socket (`poll`), then read.
        case poll
        /// Sleep this long, then read without a poll (a read that finds nothing polls).
        case pause(Double)
        /// Read again at once.
        case readAgain
    }

    /// The read pacing rule.
    /// - The last read was of the socket and found nothing: poll.
    /// - A quiet stream between transactions (the last socket read brought at most ``quietRead``
    ///   messages): poll, since the next message may be a while and a pause would only delay it.
    /// - A busy stream (`coalescing` set and fewer than ``coalescingLimit`` messages a read): pause,
    ///   so that the next batch gathers and is read without a poll and a wake-up per message.
    /// - Many messages a read: the server sends faster than a pause would let the socket hold,
    ///   so read again at once.
    /// - No coalescing: poll, as psycopg2.
    static func nextRead(
        afterSocketRead: Bool, sinceRead: Int, coalescing: Double?, betweenTransactions: Bool
    ) -> NextRead {
        if afterSocketRead || (betweenTransactions && sinceRead <= quietRead) { return .poll }
        guard let coalescing else { return .poll }
        return sinceRead < coalescingLimit ? .pause(coalescing) : .readAgain
    }

    /// How many messages one socket read may bring for `consumeStream` to pause before the next:
    /// past it the server sends fast enough to fill the socket's buffer (about a hundred small
    /// messages on a Unix socket) during a pause and would wait for the consumer.
    static let coalescingLimit = 40

    /// At most how many messages one socket read brings on a stream ``betweenTransactions`` calls
    /// quiet: a small transaction's (a begin, a few changes, a commit). A busy stream's read after
    /// a pause brings more, and keeps the pause.
    static let quietRead = 8

    /// Ends the stream from the client: sends CopyDone, drains the server's remaining data up to
    /// its CopyDone, reads the command's results and leaves the connection ready for other
    /// commands (psycopg2 has no way out of a stream but closing the connection). Calling it when
    /// the stream already ended returns how it ended.
    ///
    /// May be called from inside a ``consumeStream(keepaliveInterval:idleInterval:onIdle:_:)`` consumer; the loop then
    /// returns after the consumer does.
    ///
    /// The corresponding libpq functions are `PQputCopyEnd`, `PQflush`, `PQgetCopyData` and `PQgetResult`.
    @discardableResult
    public func stopReplication() throws -> StreamEnd {
        try checkOpen()
        guard let engine else {
            throw PGError.programming("stopReplication(): not replicating; call startReplication() first")
        }
        let end = try engine.withLock { try engine.stopLocked() }
        readAhead.removeAll()
        if end.reason == .stopped, engine.replicationType == .logical {
            connection.stoppedLogicalStream = true
        }
        return end
    }

    /// A handle that stops ``consumeStream(keepaliveInterval:idleInterval:onIdle:_:)`` from another thread.
    public func makeStopHandle() -> ReplicationStopHandle {
        ReplicationStopHandle(signal: stopSignal)
    }

    /// A handle that confirms positions of the current stream from any thread
    /// (``ReplicationFeedbackHandle/confirm(flush:)``) and reads its positions.
    ///
    /// - Throws: `PGError` (`.programming`) when no stream was started.
    public func makeFeedbackHandle() throws -> ReplicationFeedbackHandle {
        guard let engine else {
            throw PGError.programming("makeFeedbackHandle(): not replicating; call startReplication() first")
        }
        return ReplicationFeedbackHandle(engine: engine)
    }

    // MARK: - Feedback

    /// Records positions to report to the server and, with `force` or `reply`, reports them now.
    ///
    /// As in psycopg2 2.8.3+, the positions are maxima that never move back; they go out with the
    /// next timed update (every status interval), with the answer to a keepalive that asks for one,
    /// or at once with `force`/`reply`. `reply: true` also asks the server to answer with a
    /// keepalive, which refreshes ``walEnd``. Only `flushLSN` moves a logical slot's
    /// `confirmed_flush_lsn`: pass a position only once everything before it is safely processed.
    /// The write position reported is never below the flush position.
    ///
    /// The corresponding libpq functions are `PQputCopyData` and `PQflush` (with `force` or `reply`).
    public func sendFeedback(
        writeLSN: LSN = 0, flushLSN: LSN = 0, applyLSN: LSN = 0, reply: Bool = false, force: Bool = false
    ) throws {
        try checkOpen()
        guard let engine else {
            throw PGError.programming("sendFeedback(): not replicating; call startReplication() first")
        }
        guard force || reply else {
            // Recorded for the next status update: the feedback lock only, no clock reading.
            engine.confirm(write: writeLSN, flush: flushLSN, apply: applyLSN)
            return
        }
        try engine.withLock {
            guard engine.isStreaming else { throw PGError.programming("sendFeedback(): the stream has ended") }
            try engine.feedbackLocked(
                .confirmed(write: writeLSN, flush: flushLSN, apply: applyLSN, force: force, reply: reply))
        }
    }

    // MARK: - State

    /// When data was last received or a status update last sent (the epoch before any START).
    public var ioTimestamp: Date { engine.map { e in e.withLock { e.ioTimestamp } } ?? Date(timeIntervalSince1970: 0) }

    /// When the last status update was sent (the epoch before the first).
    public var feedbackTimestamp: Date {
        engine.map { e in e.withLock { e.feedbackTimestamp } } ?? Date(timeIntervalSince1970: 0)
    }

    /// The server WAL end from the last XLogData or keepalive (psycopg2's `wal_end`; on logical
    /// streams it can move back, see ``highestWalEnd``).
    public var walEnd: LSN { engine?.machine.walEnd ?? 0 }

    /// The highest server WAL end seen in this stream.
    public var highestWalEnd: LSN { engine?.machine.highestWalEnd ?? 0 }

    /// The flush position the cursor reports (confirmed by the consumer, or moved on keepalives).
    public var flushLSN: LSN { engine?.machine.flushLSN ?? 0 }

    /// The last keepalive received, with the server's send time.
    public var lastKeepalive: PrimaryKeepalive? { engine?.machine.lastKeepalive }

    /// Whether a stream is open.
    public var isReplicating: Bool { engine.map { e in e.withLock { e.isStreaming } } ?? false }

    /// How the last stream ended, nil while it runs or before any START.
    public var streamEnd: StreamEnd? { engine.flatMap { e in e.withLock { e.end } } }

    /// The server's `wal_sender_timeout` read at START, in seconds (0 = disabled).
    public var serverSenderTimeout: Double? { engine?.senderTimeout }
}

/// Seconds in a PostgreSQL duration setting such as `60s`, `500ms`, `1min` or `0`.
func parseDuration(_ text: String) -> Double? {
    let digits = text.prefix { $0.isNumber || $0 == "." }
    guard let value = Double(digits) else { return nil }
    switch text.dropFirst(digits.count).trimmingCharacters(in: .whitespaces) {
    case "", "ms": return value / 1000
    case "s": return value
    case "min": return value * 60
    case "h": return value * 3600
    case "d": return value * 86400
    case "us": return value / 1_000_000
    default: return nil
    }
}
