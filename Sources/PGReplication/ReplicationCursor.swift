import Foundation
import Logging
import PGOutput

/// psycopg2's `ReplicationCursor`: runs replication commands and streams replication data.
///
/// ```swift
/// let connection = try LogicalReplicationConnection("dbname=app user=repl")
/// let cursor = try connection.cursor()
/// try cursor.createReplicationSlot("app", outputPlugin: "test_decoding")
/// try cursor.startReplication(slotName: "app", decode: true)
/// do {
///     try cursor.consumeStream { message in
///         print(message.payloadText)
///         try message.cursor.sendFeedback(flushLSN: message.dataStart)
///     }
/// } catch is StopReplication {}
/// ```
///
/// All feedback state (the positions to report, timers) lives in the cursor and is reset by each
/// START; feedback given on another cursor is not seen by this one's stream.
///
/// - Important: Not `Sendable`: the cursor has its connection's single owner. To stop a stream
///   from another thread, use ``makeStopHandle()``.
public final class ReplicationCursor {
    /// The connection the cursor runs on.
    public let connection: ReplicationConnection
    /// Whether ``close()`` was called.
    @exclusivity(unchecked) public private(set) var closed = false

    /// Move the flush position to the server's WAL end on keepalives when everything delivered
    /// was confirmed (psycopg2's and pgjdbc's rule; on by default). Turn off when the slot position
    /// is managed out of band: then only ``sendFeedback(writeLSN:flushLSN:applyLSN:reply:force:)``
    /// moves it.
    public var automaticFlush = true {
        didSet { engine?.feedback.withLock { [automaticFlush] in $0.machine.settings.automaticFlush = automaticFlush } }
    }

    /// When set, a newly confirmed flush position is reported to the server at once, or this many
    /// seconds after the previous status update when one went out less than that ago (so at most
    /// one report per interval), instead of with the next timed update up to the status interval
    /// later. nil (the default) keeps psycopg2's timing. ``ChangeStream`` sets 0.01 s, so a slot's
    /// `confirmed_flush_lsn` follows acknowledgements within milliseconds.
    public var promptFeedbackInterval: Double? {
        didSet {
            engine?.feedback.withLock { [promptFeedbackInterval] in
                $0.machine.settings.promptInterval = promptFeedbackInterval
            }
        }
    }

    /// Fail a stream that received nothing (not even a keepalive) for this many seconds, like the
    /// server's `wal_receiver_timeout`; nil (the default) waits forever.
    public var receiveTimeout: Double? {
        didSet { engine?.withLock { [receiveTimeout] in engine?.receiveTimeout = receiveTimeout } }
    }

    /// How long ``consumeStream(keepaliveInterval:idleInterval:onIdle:_:)`` pauses, in seconds, after the data of a
    /// wake-up is used up before it reads the socket again; nil or 0 polls at once, as psycopg2.
    ///
    /// The server sends each message on its own, so a consumer that keeps up with it otherwise
    /// pays a `poll`, a wake-up and a `recv` per message, most of its CPU time. The pause lets a
    /// batch gather (at 150k messages/s, 0.2 ms is about 30) and adds at most the pause to the
    /// delivery of messages that arrive while the stream is busy: the first message after an idle
    /// moment is delivered as soon as it arrives. psycopg2's rule, one socket read per read, still
    /// holds. Longer pauses save little and can hold the server back: a Unix socket's default
    /// buffer fills with about a hundred small messages. At most 1 s.
    public var readCoalescing: Double? = 0.000_2

    /// Set by a consumer that knows the stream's transactions (``ChangeStream``): true while no
    /// transaction is open. Then a socket read that brought few messages is not followed by the
    /// ``readCoalescing`` pause: on a quiet stream the next message comes later, and polling
    /// delivers it as it arrives.
    package var betweenTransactions = false

    var result: PQResult?
    var resultRows: [[String?]] = []
    var resultPosition = 0
    @exclusivity(unchecked) var engine: CopyBothEngine?
    var consuming = false
    var endReported = false
    /// Data frames `consumeStream` read in one go and has not delivered yet.
    @exclusivity(unchecked) var readAhead = ReadAhead()
    let stopSignal = StopSignal()

    init(connection: ReplicationConnection) {
        self.connection = connection
    }

    var pq: PQConnection { connection.pq }
    var logger: Logger { connection.logger }

    /// Marks the cursor closed. Like psycopg2, this does not end a stream in progress; use
    /// ``stopReplication()`` for that.
    public func close() { closed = true }

    /// The connection's socket, for `poll`/`select` (`PQsocket`).
    public func fileno() throws -> Int32 {
        try checkOpen()
        return try connection.fileno()
    }

    func checkOpen() throws {
        if closed || connection.closed { throw PGError.interface("cursor already closed") }
    }

    // MARK: - Commands and results

    /// Runs a replication command (IDENTIFY_SYSTEM, SHOW, TIMELINE_HISTORY, READ_REPLICATION_SLOT,
    /// …) or, on a logical connection, plain SQL. Rows are read with ``fetchall()``.
    ///
    /// A command that starts streaming (START_REPLICATION) is handled as
    /// ``startReplicationExpert(_:decode:statusInterval:)`` with its defaults.
    ///
    /// The corresponding libpq functions are `PQsendQuery` and `PQgetResult` (`PQexec` without a stop signal).
    public func execute(_ command: String) throws {
        try checkOpen()
        guard !command.isEmpty else { throw PGError.programming("can't execute an empty query") }
        guard !command.utf8.contains(0) else { throw PGError.programming("the command must not contain NUL bytes") }
        try checkNotStreaming()
        clearResult()
        guard let result = try pq.execute(command, interruption: connection.interruption) else {
            throw PGError.from(nil, connection: pq, command: command)
        }
        switch result.status {
        case .commandOK, .tuplesOK, .emptyQuery:
            self.resultRows = result.rows
            self.result = result
        case .copyBoth:
            beginStreaming(
                command: command, type: Self.replicationType(of: command), decode: false, statusInterval: 10,
                senderTimeout: nil)
        case .copyOut, .copyIn:
            throw PGError(.notSupported, "COPY results are not supported by execute", command: command)
        default:
            throw PGError.from(result, connection: pq, command: command)
        }
    }

    /// The rows not fetched yet from the last command, as text (nil for NULL).
    ///
    /// - Throws: `PGError` (`.programming`) when the last command returned no rows.
    public func fetchall() throws -> [[String?]] {
        try checkResult()
        let rows = Array(resultRows[resultPosition...])
        resultPosition = resultRows.count
        return rows
    }

    /// The next row of the last command's result, nil when there are no more.
    public func fetchone() throws -> [String?]? {
        try checkResult()
        guard resultPosition < resultRows.count else { return nil }
        defer { resultPosition += 1 }
        return resultRows[resultPosition]
    }

    /// The column names of the last result (psycopg2's `description`, names only).
    public var columnNames: [String]? { result?.columnNames }

    /// Rows in the last result, or the affected-row count of the last command; -1 when there is
    /// none (after a START, for example).
    public var rowcount: Int {
        guard let result else { return -1 }
        return result.status == .tuplesOK ? result.rowCount : (result.affectedRows ?? -1)
    }

    func checkResult() throws {
        try checkOpen()
        guard let result, result.status == .tuplesOK else { throw PGError.programming("no results to fetch") }
    }

    func clearResult() {
        result = nil
        resultRows = []
        resultPosition = 0
    }

    func checkNotStreaming() throws {
        if let engine, engine.withLock({ engine.isStreaming }) {
            throw PGError.programming("cannot run a command while replicating: call stopReplication() first")
        }
    }

    /// Runs a command and returns its single row (or none).
    func queryRow(_ command: String) throws -> (columns: [String], row: [String?]?) {
        try execute(command)
        return (columnNames ?? [], resultRows.first)
    }

    // MARK: - Quoting

    /// The name as a quoted identifier (`PQescapeIdentifier`).
    func quoteIdentifier(_ name: String, what: String) throws -> String {
        guard !name.utf8.contains(0) else { throw PGError.programming("\(what) must not contain NUL bytes") }
        guard let quoted = pq.escapeIdentifier(name) else {
            throw PGError(.programming, "cannot quote \(what): \(pq.errorMessage)")
        }
        return quoted
    }

    /// A string literal for the replication command grammar, whose lexer knows `''` doubling and
    /// no backslash escapes (so `PQescapeLiteral`'s `E'…'` form would not parse there). The text
    /// goes out as UTF-8, which the connection's `client_encoding=UTF8` declares.
    func quoteLiteral(_ value: String, what: String) throws -> String {
        try singleQuoted(value, what: what)
    }
}

/// `'text'` with single quotes doubled: a literal for the replication grammar and, with
/// standard_conforming_strings on (the default), for SQL. NUL cannot be sent and is refused.
func singleQuoted(_ value: String, what: String) throws -> String {
    guard !value.utf8.contains(0) else { throw PGError.programming("\(what) must not contain NUL bytes") }
    return "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
}

@available(*, unavailable, message: "a cursor has its connection's single owner; use makeStopHandle() across threads")
extension ReplicationCursor: Sendable {}

/// Data frames read under one lock acquisition, delivered one by one by the cursor's owner.
///
/// Batches stay small: each frame holds a buffer libpq allocated, and a few at a time keep
/// `malloc` on its per-thread cache; most of the saving (one lock round trip and one clock
/// reading per batch instead of per message) comes with the first few frames.
struct ReadAhead {
    /// Frames per batch at most.
    static let limit = 8

    /// Delivered slots are nil, so clearing the array releases nothing.
    var frames: [CopyBothEngine.Frame?] = []
    private var head = 0

    init() { frames.reserveCapacity(Self.limit) }

    mutating func next() -> CopyBothEngine.Frame? {
        guard head < frames.count else { return nil }
        let frame = frames[head].take()
        head += 1
        if head == frames.count {
            frames.removeAll(keepingCapacity: true)
            head = 0
        }
        return frame
    }

    mutating func removeAll() {
        frames.removeAll(keepingCapacity: true)
        head = 0
    }
}
