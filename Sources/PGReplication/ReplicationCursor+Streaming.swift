import Foundation
import PGOutput

extension ReplicationCursor {
    // MARK: - Starting

    /// `START_REPLICATION`: starts streaming from a slot (or, physical only, without one).
    ///
    /// The command is built exactly as psycopg2 builds it: `START_REPLICATION SLOT "name" LOGICAL
    /// 0/00000000 ("key" 'value', …)` for logical; `START_REPLICATION [SLOT "name" ]X/XXXXXXXX[
    /// TIMELINE n]` for physical (no `PHYSICAL` keyword).
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
            guard type == .physical else { throw PGError.programming("cannot specify timeline for logical replication") }
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
        try startReplicationExpert(command, decode: decode, statusInterval: statusInterval)
    }

    /// Sends a START_REPLICATION command written by the caller.
    ///
    /// - Parameters:
    ///   - command: the whole command.
    ///   - decode: deliver payloads as text.
    ///   - statusInterval: seconds between timed status updates, at least 1.
    public func startReplicationExpert(_ command: String, decode: Bool = false, statusInterval: Double = 10) throws {
        try checkOpen()
        guard !command.isEmpty else { throw PGError.programming("can't execute an empty query") }
        guard statusInterval >= 1 else { throw PGError.programming("status_interval must be >= 1 (sec)") }
        guard !command.utf8.contains(0) else { throw PGError.programming("the command must not contain NUL bytes") }
        try checkNotStreaming()
        let isLogical = command.uppercased().contains(" LOGICAL ")
        if isLogical, connection.stoppedLogicalStream {
            throw PGError(
                .notSupported,
                "this connection already stopped a logical stream, and PostgreSQL ends a second logical START on it at once; open a new connection to stream again",
                command: command)
        }
        clearResult()
        let senderTimeout = readSenderTimeout()
        guard let result = pq.exec(command) else { throw PGError.from(nil, connection: pq, command: command) }
        guard result.status == .copyBoth else {
            if result.status == .fatalError || result.status == .badResponse || result.status == .nonfatalError {
                throw PGError.from(result, connection: pq, command: command)
            }
            throw PGError(
                .programming, "the command did not start a replication stream (\(result.statusName))", command: command)
        }
        try beginStreaming(command: command, decode: decode, statusInterval: statusInterval, senderTimeout: senderTimeout)
    }

    /// The server's `wal_sender_timeout` in seconds, when `SHOW` can read it.
    func readSenderTimeout() -> Double? {
        guard let result = pq.exec("SHOW wal_sender_timeout"), result.status == .tuplesOK,
            let text = result.value(row: 0, column: 0)
        else { return nil }
        return parseDuration(text)
    }

    func beginStreaming(command: String, decode: Bool, statusInterval: Double, senderTimeout: Double?) throws {
        pq.setNonblocking(true)
        session = StreamSession(
            pq: pq, logger: logger, command: command, decode: decode, statusInterval: statusInterval,
            automaticFlush: automaticFlush, senderTimeout: senderTimeout, receiveTimeout: receiveTimeout)
        session?.waker = stopFlag
        readAhead.removeAll()
        endReported = false
        _ = stopFlag.take()
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
    public func readMessage() throws -> ReplicationMessage? {
        try checkOpen()
        guard let session else { throw PGError.programming("read_message: not replicating, call start_replication first") }
        // Frames `consumeStream` read ahead and did not deliver (its consumer threw) come first.
        if let frame = readAhead.next() { return try makeMessage(frame.buffer, frame.header, session) }
        switch try session.withLock({ try session.readLocked() }) {
        case .message(let buffer, let header):
            return try makeMessage(buffer, header, session)
        case .nothing:
            return nil
        case .ended(let end):
            if endReported { throw PGError.programming("not replicating: the stream ended (\(end.reason))") }
            endReported = true
            return nil
        }
    }

    func makeMessage(_ buffer: CopyDataBuffer, _ header: XLogDataHeader, _ session: StreamSession) throws
        -> ReplicationMessage
    {
        var text: String?
        if session.decode {
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
    ///   - consume: the consumer, called on the calling thread.
    public func consumeStream(
        keepaliveInterval: Double? = nil, _ consume: (ReplicationMessage) throws -> Void
    ) throws {
        try checkOpen()
        if let keepaliveInterval, !(keepaliveInterval >= 1) {
            throw PGError.programming("keepalive_interval must be >= 1 (sec)")
        }
        guard !consuming else {
            throw PGError.programming("consume_stream cannot be used when already in the consume loop")
        }
        guard let session, session.withLock({ session.isStreaming }) else {
            throw PGError.programming("consume_stream: not replicating, call start_replication first")
        }
        if let keepaliveInterval { session.withLock { session.statusInterval = keepaliveInterval } }
        let socket = pq.socket
        let wakeFD = stopFlag.wakeFD
        consuming = true
        session.startKeeper()
        defer {
            session.stopKeeper()
            consuming = false
        }
        defer { session.consumerReturned() }
        let coalescing = readCoalescing.flatMap { $0 > 0 ? useconds_t(min($0, 1) * 1_000_000) : nil }
        // Whether to read the socket: after a wake-up, yes; once that data is used up, poll first
        // (or pause, then read). `sinceRead`: frames the last socket read brought.
        var readSocket = true
        var sinceRead = 0
        while true {
            if stopFlag.take() {
                try stopReplication()
                return
            }
            if let frame = readAhead.next() {
                try consume(try makeMessage(frame.buffer, frame.header, session))
                continue
            }
            let before = readAhead.frames.count
            let outcome = try session.withLock {
                try session.readBatchLocked(
                    readSocket: readSocket, limit: ReadAhead.limit, markBusy: true, into: &readAhead.frames)
            }
            switch outcome {
            case .frames:
                sinceRead = readSocket ? readAhead.frames.count - before : sinceRead + readAhead.frames.count - before
                readSocket = false
            case .nothing:
                if readSocket {
                    try session.waitForInput(socket: socket, wakeFD: wakeFD)
                } else if let coalescing, sinceRead < Self.coalescingLimit {
                    // A wake-up's messages are used up while the stream is busy: let the next
                    // batch gather, then read it without a poll (a read that finds nothing polls).
                    usleep(coalescing)
                } else if coalescing == nil {
                    try session.waitForInput(socket: socket, wakeFD: wakeFD)
                }
                // Otherwise the last read brought many messages: the server sends faster than a
                // pause would let the socket hold, so read again at once.
                readSocket = true
            case .ended:
                endReported = true
                return
            }
        }
    }

    /// How many messages one socket read may bring for `consumeStream` to pause before the next:
    /// past it the server sends fast enough to fill the socket's buffer (about a hundred small
    /// messages on a Unix socket) during a pause and would wait for the consumer.
    static let coalescingLimit = 40

    /// Ends the stream from the client: sends CopyDone, drains the server's remaining data up to
    /// its CopyDone, reads the command's results and leaves the connection ready for other
    /// commands (psycopg2 has no way out of a stream but closing the connection). Calling it when
    /// the stream already ended returns how it ended.
    ///
    /// May be called from inside a ``consumeStream(keepaliveInterval:_:)`` consumer; the loop then
    /// returns after the consumer does.
    @discardableResult
    public func stopReplication() throws -> StreamEnd {
        try checkOpen()
        guard let session else { throw PGError.programming("not replicating, call start_replication first") }
        let end = try session.withLock { try session.stopLocked() }
        readAhead.removeAll()
        if end.reason == .stopped, session.command.uppercased().contains(" LOGICAL ") {
            connection.stoppedLogicalStream = true
        }
        return end
    }

    /// A handle that stops ``consumeStream(keepaliveInterval:_:)`` from another thread.
    public func makeStopHandle() -> ReplicationStopHandle {
        _ = stopFlag.wakeFD
        return ReplicationStopHandle(flag: stopFlag)
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
    public func sendFeedback(
        writeLSN: LSN = 0, flushLSN: LSN = 0, applyLSN: LSN = 0, reply: Bool = false, force: Bool = false
    ) throws {
        try checkOpen()
        guard let session else { throw PGError.programming("send_feedback: not replicating, call start_replication first") }
        try session.withLock {
            session.writeLSN = max(session.writeLSN, writeLSN)
            session.flushLSN = max(session.flushLSN, flushLSN)
            session.explicitlyFlushedLSN = max(session.explicitlyFlushedLSN, flushLSN)
            session.applyLSN = max(session.applyLSN, applyLSN)
            if force || reply {
                guard session.isStreaming else { throw PGError.programming("send_feedback: the stream has ended") }
                try session.sendStatusUpdateLocked(replyRequested: reply)
            }
        }
    }

    // MARK: - State

    /// When data was last received or a status update last sent (the epoch before any START).
    public var ioTimestamp: Date { session.map { s in s.withLock { s.ioTimestamp } } ?? Date(timeIntervalSince1970: 0) }

    /// When the last status update was sent (the epoch before the first).
    public var feedbackTimestamp: Date {
        session.map { s in s.withLock { s.feedbackTimestamp } } ?? Date(timeIntervalSince1970: 0)
    }

    /// The server WAL end from the last XLogData or keepalive (psycopg2's `wal_end`; on logical
    /// streams it can move back, see ``highestWalEnd``).
    public var walEnd: LSN { session.map { s in s.withLock { s.walEnd } } ?? 0 }

    /// The highest server WAL end seen in this stream.
    public var highestWalEnd: LSN { session.map { s in s.withLock { s.highestWalEnd } } ?? 0 }

    /// The flush position the cursor reports (confirmed by the consumer, or moved on keepalives).
    public var flushLSN: LSN { session.map { s in s.withLock { s.flushLSN } } ?? 0 }

    /// The last keepalive received, with the server's send time.
    public var lastKeepalive: PrimaryKeepalive? { session.map { s in s.withLock { s.lastKeepalive } } ?? nil }

    /// Whether a stream is open.
    public var isReplicating: Bool { session.map { s in s.withLock { s.isStreaming } } ?? false }

    /// How the last stream ended, nil while it runs or before any START.
    public var streamEnd: StreamEnd? {
        session.flatMap { s in
            s.withLock {
                if case .ended(let end) = s.phase { return end }
                return nil
            }
        }
    }

    /// The server's `wal_sender_timeout` read at START, in seconds (0 = disabled).
    public var serverSenderTimeout: Double? { session?.senderTimeout }
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
