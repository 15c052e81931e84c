// The one place that calls libpq. Everything else in the package talks to `PQConnection`,
// `PQResult` and `CopyDataBuffer`, which turn libpq's C conventions (NULL pointers, 0/1/-1/-2
// return codes, messages valid until the next call) into Swift values captured at once.

import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An owned `PGconn`. Not thread-safe: one thread at a time (libpq's rule for a connection).
final class PQConnection {
    private var handle: OpaquePointer?

    private init(handle: OpaquePointer?) { self.handle = handle }

    /// Starts connecting with keyword/value pairs without waiting (`PQconnectStartParams`,
    /// `expand_dbname = 0`); ``connectPoll()`` drives the attempt to its end.
    ///
    /// libpq returns a connection object even when the connection failed; it must still be
    /// released with `PQfinish`, which `finish()` / `deinit` do.
    static func connectStart(_ parameters: [(key: String, value: String)]) -> PQConnection {
        let keywords = parameters.map { strdup($0.key) }
        let values = parameters.map { strdup($0.value) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        var keywordPointers: [UnsafePointer<CChar>?] = keywords.map { UnsafePointer($0) } + [nil]
        var valuePointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        let handle = keywordPointers.withUnsafeMutableBufferPointer { k in
            valuePointers.withUnsafeMutableBufferPointer { v in
                PQconnectStartParams(k.baseAddress, v.baseAddress, 0)
            }
        }
        return PQConnection(handle: handle)
    }

    /// What `PQconnectPoll` asks for next.
    enum ConnectPoll {
        case reading, writing, ok, failed
    }

    /// `PQconnectPoll`: one step of a connection attempt started with ``connectStart(_:)``.
    func connectPoll() -> ConnectPoll {
        guard let handle else { return .failed }
        if PQstatus(handle) == CONNECTION_BAD { return .failed }
        switch PQconnectPoll(handle) {
        case PGRES_POLLING_READING: return .reading
        case PGRES_POLLING_WRITING: return .writing
        case PGRES_POLLING_OK: return .ok
        default: return .failed
        }
    }

    /// Parses a conninfo string or URI into its explicitly given keyword/value pairs.
    ///
    /// - Returns: the pairs, or the parser's error text.
    static func parseConninfo(_ conninfo: String) -> Result<[(key: String, value: String)], ConninfoError> {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            let text = errorMessage.map { String(cString: $0) } ?? "out of memory"
            if let errorMessage { PQfreemem(errorMessage) }
            return .failure(ConninfoError(message: redactQuotedInput(trimmed(text), conninfo: conninfo)))
        }
        defer { PQconninfoFree(options) }
        var pairs: [(key: String, value: String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                pairs.append((String(cString: keyword), String(cString: value)))
            }
            option += 1
        }
        return .success(pairs)
    }

    struct ConninfoError: Error { var message: String }

    /// libpq's parse errors quote pieces of the input: a whole URI with its password
    /// (`… in URI: "postgresql://u:secret@[::1/db"`), or a word of a password that has a space in
    /// it (`missing "=" after "ret"`). When the input may hold a password, every quoted piece
    /// that comes from it is replaced, so the message can be shown and logged.
    static func redactQuotedInput(_ message: String, conninfo: String) -> String {
        let mayHoldPassword =
            conninfo.range(of: "password", options: .caseInsensitive) != nil
            || (conninfo.contains("://") && conninfo.contains("@"))
        guard mayHoldPassword else { return message }
        let pieces = message.split(separator: "\"", omittingEmptySubsequences: false)
        return pieces.enumerated().map { index, piece in
            let quoted = index % 2 == 1 && index < pieces.count - 1
            return quoted && piece.contains(where: { $0.isLetter || $0.isNumber }) && conninfo.contains(piece)
                ? "(redacted)" : String(piece)
        }.joined(separator: "\"")
    }

    deinit { finish() }

    /// `PQfinish`: closes the connection and frees the object. Safe to call twice.
    func finish() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    var isFinished: Bool { handle == nil }

    /// `PQsetErrorVerbosity`: verbose messages carry the server's SQLSTATE (`FATAL:  28P01: …`),
    /// which is how a failed connection tells it (libpq has no result to ask then).
    func setVerboseErrors(_ verbose: Bool) {
        guard let handle else { return }
        _ = PQsetErrorVerbosity(handle, verbose ? PQERRORS_VERBOSE : PQERRORS_DEFAULT)
    }

    var isOK: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// `PQerrorMessage`, copied and trimmed (the C string is only valid until the next call).
    var errorMessage: String {
        guard let handle, let message = PQerrorMessage(handle) else { return "connection is closed" }
        return trimmed(String(cString: message))
    }

    /// `PQsocket`; -1 when there is no open socket.
    var socket: Int32 { handle.map { PQsocket($0) } ?? -1 }
    var serverVersion: Int { handle.map { Int(PQserverVersion($0)) } ?? 0 }
    var backendPID: Int { handle.map { Int(PQbackendPID($0)) } ?? 0 }
    var sslInUse: Bool { handle.map { PQsslInUse($0) == 1 } ?? false }

    func parameterStatus(_ name: String) -> String? {
        guard let handle, let value = PQparameterStatus(handle, name) else { return nil }
        return String(cString: value)
    }

    /// `PQexec`: sends a simple query and waits for its last result.
    func exec(_ command: String) -> PQResult? {
        guard let handle else { return nil }
        return PQexec(handle, command).map(PQResult.init)
    }

    /// `PQsendQuery`: sends a simple query without waiting for its result. False on failure.
    func sendQuery(_ command: String) -> Bool {
        guard let handle else { return false }
        return PQsendQuery(handle, command) == 1
    }

    /// `PQisBusy`: whether `PQgetResult` would wait for more input.
    var isBusy: Bool {
        guard let handle else { return false }
        return PQisBusy(handle) == 1
    }

    /// `PQgetResult`: the next result of the command in progress, nil when there are no more.
    func getResult() -> PQResult? {
        guard let handle else { return nil }
        return PQgetResult(handle).map(PQResult.init)
    }

    /// `PQsetnonblocking`.
    @discardableResult
    func setNonblocking(_ on: Bool) -> Bool {
        guard let handle else { return false }
        return PQsetnonblocking(handle, on ? 1 : 0) == 0
    }

    /// `PQconsumeInput`: reads what the socket has into libpq's buffer. False on failure.
    func consumeInput() -> Bool {
        guard let handle else { return false }
        return PQconsumeInput(handle) == 1
    }

    /// `PQflush`: 0 all sent, 1 some data still queued (non-blocking mode), -1 failure.
    func flush() -> Int32 {
        guard let handle else { return -1 }
        return PQflush(handle)
    }

    /// `PQputCopyData`: 1 queued, 0 not queued (non-blocking mode, buffer full), -1 failure.
    func putCopyData(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        guard let handle else { return -1 }
        return PQputCopyData(handle, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
    }

    /// `PQputCopyEnd` without an error message (a CopyDone): 1 queued, 0 retry, -1 failure.
    func putCopyEnd() -> Int32 {
        guard let handle else { return -1 }
        return PQputCopyEnd(handle, nil)
    }

    /// What `PQgetCopyData` returned.
    enum CopyData {
        /// A complete CopyData message; its buffer is freed when the last reference goes.
        case data(CopyDataBuffer)
        /// Nothing complete in libpq's buffer yet (asynchronous mode only).
        case wouldBlock
        /// The copy is done (CopyDone or an error from the server): call `getResult()`.
        case done
        /// Failure; see `errorMessage`.
        case failed
    }

    /// `PQgetCopyData` in asynchronous (non-waiting) mode.
    func getCopyData() -> CopyData {
        guard let handle else { return .failed }
        var buffer: UnsafeMutablePointer<CChar>?
        let count = PQgetCopyData(handle, &buffer, 1)
        switch count {
        case 0: return .wouldBlock
        case -1: return .done
        case ..<0:
            if let buffer { PQfreemem(buffer) }
            return .failed
        default:
            guard let buffer else { return .failed }
            return .data(CopyDataBuffer(pointer: buffer, count: Int(count)))
        }
    }

    /// `PQescapeIdentifier`: the name in double quotes with embedded quotes doubled.
    func escapeIdentifier(_ name: String) -> String? { escape(name, with: PQescapeIdentifier) }

    /// `PQescapeLiteral`: the text as an SQL literal for this connection's settings.
    func escapeLiteral(_ text: String) -> String? { escape(text, with: PQescapeLiteral) }

    /// Runs one of libpq's escaping functions (which return memory to free with `PQfreemem`).
    private func escape(
        _ text: String,
        with function: (OpaquePointer?, UnsafePointer<CChar>?, Int) -> UnsafeMutablePointer<CChar>?
    ) -> String? {
        guard let handle else { return nil }
        let utf8 = Array(text.utf8)
        guard
            let escaped = utf8.withUnsafeBufferPointer({ buffer in
                buffer.withMemoryRebound(to: CChar.self) { function(handle, $0.baseAddress, $0.count) }
            })
        else { return nil }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    /// A cancel handle for `PQcancel`, usable from another thread.
    func makeCanceller() -> PQCanceller? {
        guard let handle, let cancel = PQgetCancel(handle) else { return nil }
        return PQCanceller(cancel: cancel)
    }
}

/// `PGcancel`: libpq documents `PQcancel` as safe to call from another thread.
final class PQCanceller: @unchecked Sendable {
    private let cancel: OpaquePointer

    init(cancel: OpaquePointer) { self.cancel = cancel }
    deinit { PQfreeCancel(cancel) }

    /// Asks the server to cancel the command in progress. Returns false if the request could
    /// not be sent.
    @discardableResult
    func requestCancel() -> Bool {
        var buffer = [CChar](repeating: 0, count: 256)
        return PQcancel(cancel, &buffer, Int32(buffer.count)) == 1
    }
}

/// An owned `PGresult`, cleared in `deinit`.
final class PQResult {
    private let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQclear(handle) }

    enum Status: Equatable {
        case emptyQuery, commandOK, tuplesOK, copyOut, copyIn, copyBoth, badResponse, nonfatalError, fatalError,
            singleTuple, other(UInt32)
    }

    var status: Status {
        let raw = PQresultStatus(handle)
        switch raw {
        case PGRES_EMPTY_QUERY: return .emptyQuery
        case PGRES_COMMAND_OK: return .commandOK
        case PGRES_TUPLES_OK: return .tuplesOK
        case PGRES_COPY_OUT: return .copyOut
        case PGRES_COPY_IN: return .copyIn
        case PGRES_COPY_BOTH: return .copyBoth
        case PGRES_BAD_RESPONSE: return .badResponse
        case PGRES_NONFATAL_ERROR: return .nonfatalError
        case PGRES_FATAL_ERROR: return .fatalError
        case PGRES_SINGLE_TUPLE: return .singleTuple
        default: return .other(raw.rawValue)
        }
    }

    /// `PQresStatus`: the status's C name, e.g. `PGRES_FATAL_ERROR`.
    var statusName: String { String(cString: PQresStatus(PQresultStatus(handle))) }

    /// `PQresultErrorMessage`, trimmed; empty when there is none.
    var errorMessage: String {
        guard let message = PQresultErrorMessage(handle) else { return "" }
        return trimmed(String(cString: message))
    }

    /// `PQresultErrorField` for a field code such as `C` (SQLSTATE) or `M` (primary message).
    func errorField(_ code: UInt8) -> String? {
        guard let value = PQresultErrorField(handle, Int32(code)) else { return nil }
        return String(cString: value)
    }

    var rowCount: Int { Int(PQntuples(handle)) }
    var columnCount: Int { Int(PQnfields(handle)) }

    func columnName(_ column: Int) -> String {
        PQfname(handle, Int32(column)).map { String(cString: $0) } ?? ""
    }

    /// The value at a row and column in text form, nil for SQL NULL.
    func value(row: Int, column: Int) -> String? {
        if PQgetisnull(handle, Int32(row), Int32(column)) == 1 { return nil }
        guard let value = PQgetvalue(handle, Int32(row), Int32(column)) else { return nil }
        let length = Int(PQgetlength(handle, Int32(row), Int32(column)))
        return value.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    /// `PQcmdTuples`: the affected-row count of the command, nil when it has none.
    var affectedRows: Int? {
        guard let text = PQcmdTuples(handle) else { return nil }
        return Int(String(cString: text))
    }

    /// Every row, as text.
    var rows: [[String?]] {
        (0..<rowCount).map { row in (0..<columnCount).map { value(row: row, column: $0) } }
    }

    var columnNames: [String] { (0..<columnCount).map(columnName) }

    /// `PQftype`: the type OID of each column.
    var columnTypes: [UInt32] { (0..<columnCount).map { UInt32(PQftype(handle, Int32($0))) } }

    /// `PQfmod`: the type modifier of each column.
    var columnModifiers: [Int32] { (0..<columnCount).map { PQfmod(handle, Int32($0)) } }
}

/// A CopyData message as libpq allocated it, freed with `PQfreemem` when the last reference goes.
///
/// `@unchecked Sendable`: the bytes are never written after creation, and `PQfreemem` is `free`,
/// which may run on any thread.
final class CopyDataBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<CChar>
    let count: Int

    init(pointer: UnsafeMutablePointer<CChar>, count: Int) {
        self.pointer = pointer
        self.count = count
    }

    deinit { PQfreemem(pointer) }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}

/// The libpq library version, e.g. 150018.
var libpqVersion: Int { Int(PQlibVersion()) }

/// Removes the trailing newline libpq puts on its messages.
func trimmed(_ message: String) -> String {
    var text = Substring(message)
    while let last = text.last, last == "\n" || last == " " { text.removeLast() }
    return String(text)
}
