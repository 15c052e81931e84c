import Foundation
import Logging
import PGSupport

/// An ordinary (non-replication) connection for the SQL a replication client needs around the
/// stream: publications, slot status, the initial table copy.
///
/// - Important: Not `Sendable`; one owner at a time, like ``ReplicationConnection``.
public final class PGConnection {
    let pq: PQConnection
    let logger: Logger
    let interruption: Interruption

    /// Connects with a conninfo string or `postgresql://` URI, unchanged.
    ///
    /// The corresponding libpq functions are `PQconnectStartParams` and `PQconnectPoll`.
    public init(_ dsn: String, logger: Logger? = nil) throws {
        self.logger = logger ?? .disabled
        self.interruption = .none
        pq = try ConnectionParameters(dsn: dsn).connect()
    }

    /// Connects with waits that `interruption` can cut short (a connect, and every statement).
    init(_ dsn: String, logger: Logger?, interruption: Interruption) throws {
        self.logger = logger ?? .disabled
        self.interruption = interruption
        pq = try ConnectionParameters(dsn: dsn).connect(interruption: interruption)
    }

    deinit { pq.finish() }

    /// The result of one statement: column names, rows as text (nil for NULL), affected rows.
    public struct QueryResult: Hashable, Sendable {
        public var columns: [String]
        /// The type OID of each column.
        public var columnTypes: [UInt32]
        /// The type modifier of each column (-1 when none).
        public var columnModifiers: [Int32]
        public var rows: [[String?]]
        public var affectedRows: Int?

        /// The first column of the first row.
        public var scalar: String? { rows.first?.first ?? nil }
    }

    /// Runs SQL (one or more statements; the last result is returned).
    ///
    /// The corresponding libpq function is `PQexec`.
    @discardableResult
    public func execute(_ sql: String) throws -> QueryResult {
        guard !pq.isFinished else { throw PGError.interface("connection already closed") }
        guard !sql.utf8.contains(0) else { throw PGError.programming("the SQL must not contain NUL bytes") }
        guard let result = try pq.execute(sql, interruption: interruption) else {
            throw PGError.from(nil, connection: pq, command: sql)
        }
        switch result.status {
        case .commandOK, .tuplesOK, .emptyQuery:
            return QueryResult(
                columns: result.columnNames, columnTypes: result.columnTypes, columnModifiers: result.columnModifiers,
                rows: result.rows, affectedRows: result.affectedRows)
        default:
            throw PGError.from(result, connection: pq, command: sql)
        }
    }

    /// Runs a `COPY … TO STDOUT` and calls `body` with each CopyData message (one row; valid only
    /// during the call) as it arrives: rows are handled while the server sends the next ones, and
    /// none is held after its call. A stop or the receive timeout of the connection's interruption
    /// ends the copy (the server is asked to cancel it).
    ///
    /// The corresponding libpq functions are `PQexec` and `PQgetCopyData`.
    func copyOut(_ sql: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !pq.isFinished else { throw PGError.interface("connection already closed") }
        guard !sql.utf8.contains(0) else { throw PGError.programming("the SQL must not contain NUL bytes") }
        guard let result = try pq.execute(sql, interruption: interruption) else {
            throw PGError.from(nil, connection: pq, command: sql)
        }
        guard result.status == .copyOut else { throw PGError.from(result, connection: pq, command: sql) }
        let action = "copying \(sql.prefix(40))"
        var lastProgress = POSIX.monotonicNow()
        copying: while true {
            switch pq.getCopyData() {
            case .data(let buffer):
                try body(buffer.bytes)
                // The handler's time is not the server's silence.
                lastProgress = POSIX.monotonicNow()
            case .wouldBlock:
                do {
                    try interruption.check(since: lastProgress, action)
                } catch {
                    pq.makeCanceller()?.requestCancel()
                    throw error
                }
                if try interruption.wait(on: pq).readable {
                    guard pq.consumeInput() else { throw PGError.connectionFailure(pq, while: "copying") }
                }
            case .done:
                break copying
            case .failed:
                throw PGError.connectionFailure(pq, while: "copying")
            }
        }
        // The command's own result says whether the copy ended well.
        var failure: PGError?
        while let final = pq.getResult() {
            if failure == nil, final.status != .commandOK {
                failure = PGError.from(final, connection: pq, command: sql)
            }
        }
        if let failure { throw failure }
    }

    /// The text as a quoted identifier (`PQescapeIdentifier`).
    ///
    /// The corresponding libpq function is `PQescapeIdentifier`.
    public func quoteIdentifier(_ name: String) throws -> String {
        guard !name.utf8.contains(0), let quoted = pq.escapeIdentifier(name) else {
            throw PGError.programming("cannot quote identifier")
        }
        return quoted
    }

    /// The text as an SQL string literal, correct whatever `standard_conforming_strings` says
    /// (`PQescapeLiteral`: backslashes doubled in an `E'…'` literal when there are any).
    ///
    /// The corresponding libpq function is `PQescapeLiteral`.
    public func quoteLiteral(_ value: String) throws -> String {
        guard !value.utf8.contains(0) else { throw PGError.programming("a literal must not contain NUL bytes") }
        guard let quoted = pq.escapeLiteral(value) else {
            throw PGError(.programming, "cannot quote a literal: \(pq.errorMessage)")
        }
        return quoted
    }

    /// The server version, e.g. 150018.
    public var serverVersion: Int { pq.serverVersion }
    /// The backend process ID.
    public var backendPID: Int { pq.backendPID }
    /// Whether the connection is closed.
    public var closed: Bool { pq.isFinished }

    /// Closes the connection.
    ///
    /// The corresponding libpq function is `PQfinish`.
    public func close() { pq.finish() }
}

@available(*, unavailable, message: "a connection has one owner; pass it on with `sending`")
extension PGConnection: Sendable {}
