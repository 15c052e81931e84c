/// An error from the server, from libpq, or from a check of the arguments given.
///
/// ``kind`` is psycopg2's DB-API class, so code ported from psycopg2 can keep its `except` clauses:
///
/// ```swift
/// do {
///     try cursor.createReplicationSlot("app", outputPlugin: "pgoutput")
/// } catch let error as PGError where error.sqlState == .duplicateObject {
///     // the slot is already there
/// }
/// ```
///
/// Server errors carry the SQLSTATE and the server's fields; ``kind`` follows psycopg2's mapping by
/// SQLSTATE class. An error never holds the connection string: libpq's messages name host and port
/// but no password, and the package never adds the conninfo to a message.
public struct PGError: Error, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// psycopg2's DB-API exception classes.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// `InterfaceError`: misuse of the library itself (a closed cursor or connection).
        case interface
        /// `DatabaseError`: a database error that fits no narrower class.
        case database
        /// `OperationalError`: connection loss, administrator shutdown, resource problems (08, 5x …).
        case operational
        /// `ProgrammingError`: bad arguments, missing or duplicate objects, syntax (42, 3D, 3F …).
        case programming
        /// `DataError`: bad values, e.g. an unknown plugin option (22).
        case data
        /// `IntegrityError`: constraint violations (23).
        case integrity
        /// `InternalError`: transaction state, internal server errors (24, 25, XX …).
        case `internal`
        /// `NotSupportedError`: a feature the server does not support (0A).
        case notSupported
    }

    /// psycopg2's class for this error.
    public var kind: Kind
    /// The SQLSTATE, when the server sent one.
    public var sqlState: SQLState?
    /// The message: the server's primary message, or libpq's text, or the library's own words.
    public var message: String
    /// The server's severity (`ERROR`, `FATAL`, `PANIC`), when it sent one.
    public var severity: String?
    /// The server's DETAIL, when it sent one.
    public var detail: String?
    /// The server's HINT, when it sent one.
    public var hint: String?
    /// The replication command or SQL being run, when there was one (never the conninfo).
    public var command: String?
    /// Whether the connection to the server was lost with this error.
    public var connectionLost: Bool

    public init(
        _ kind: Kind, _ message: String, sqlState: SQLState? = nil, severity: String? = nil, detail: String? = nil,
        hint: String? = nil, command: String? = nil, connectionLost: Bool = false
    ) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
        self.severity = severity
        self.detail = detail
        self.hint = hint
        self.command = command
        self.connectionLost = connectionLost
    }

    /// Whether connecting again may cure the error.
    ///
    /// The server's word decides when it gave one (class 08 connection, 53 resources, 57 operator
    /// intervention such as a shutdown or a server still starting, 55006 a slot in use); without
    /// one, only a lost connection is. A refused login (class 28, 3D000, 42501) and a client's own
    /// failures (a protocol violation, a spill file that cannot be written) are not: retrying
    /// cannot cure them.
    public var isTransient: Bool {
        if let sqlState, sqlState != .connectionFailure {
            return ["08", "53", "57"].contains(sqlState.errorClass) || sqlState == .objectInUse
        }
        return connectionLost
    }

    /// `kind`, the SQLSTATE when there is one, and the message.
    public var description: String {
        var text = sqlState.map { "\($0.rawValue): \(message)" } ?? message
        if let hint { text += " (hint: \(hint))" }
        return text
    }

    public var debugDescription: String {
        var parts = ["PGError(\(kind)", "message: \(message.debugDescription)"]
        if let sqlState { parts.append("sqlState: \(sqlState.rawValue)") }
        if let severity { parts.append("severity: \(severity)") }
        if let detail { parts.append("detail: \(detail.debugDescription)") }
        if let hint { parts.append("hint: \(hint.debugDescription)") }
        if let command { parts.append("command: \(command.debugDescription)") }
        if connectionLost { parts.append("connectionLost") }
        return parts.joined(separator: ", ") + ")"
    }

    /// psycopg2's class for a SQLSTATE (by class, first two characters).
    public static func kind(for sqlState: SQLState) -> Kind {
        let code = sqlState.rawValue
        switch code.prefix(2) {
        case "08", "26", "27", "28", "34", "HV", "53", "54", "55", "57", "58", "40": return .operational
        case "0A": return .notSupported
        case "20", "21", "3D", "3F", "42", "44": return .programming
        case "22": return .data
        case "23": return .integrity
        case "24", "25", "2B", "2D", "2F", "38", "39", "3B", "F0", "P0", "XX": return .internal
        default: return code.first == "5" ? .operational : .database
        }
    }

    package static func programming(_ message: String) -> PGError { PGError(.programming, message) }
    package static func interface(_ message: String) -> PGError { PGError(.interface, message) }
}

/// A five-character SQLSTATE code.
///
/// ```swift
/// catch let error as PGError where error.sqlState == .undefinedObject { … }
/// ```
public struct SQLState: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    /// The two-character class, e.g. `42`.
    public var errorClass: String { String(rawValue.prefix(2)) }

    // Class 08 — connection exception
    public static let connectionException: SQLState = "08000"
    public static let connectionFailure: SQLState = "08006"
    // Class 0A — feature not supported
    public static let featureNotSupported: SQLState = "0A000"
    // Class 22 — data exception
    public static let invalidParameterValue: SQLState = "22023"
    // Class 25 — invalid transaction state
    public static let activeSQLTransaction: SQLState = "25001"
    // Class 28 — invalid authorization
    public static let invalidPassword: SQLState = "28P01"
    public static let invalidAuthorizationSpecification: SQLState = "28000"
    // Class 3D — invalid catalog name
    public static let invalidCatalogName: SQLState = "3D000"
    // Class 42 — syntax error or access rule violation
    public static let syntaxError: SQLState = "42601"
    public static let insufficientPrivilege: SQLState = "42501"
    public static let invalidName: SQLState = "42602"
    public static let undefinedObject: SQLState = "42704"
    public static let undefinedTable: SQLState = "42P01"
    public static let duplicateObject: SQLState = "42710"
    // Class 55 — object not in prerequisite state
    public static let objectNotInPrerequisiteState: SQLState = "55000"
    public static let objectInUse: SQLState = "55006"
    // Class 57 — operator intervention
    public static let queryCanceled: SQLState = "57014"
    public static let adminShutdown: SQLState = "57P01"
    public static let crashShutdown: SQLState = "57P02"
    public static let cannotConnectNow: SQLState = "57P03"
    // Class 58 — system error
    public static let undefinedFile: SQLState = "58P01"
    // Class XX — internal error
    public static let internalError: SQLState = "XX000"
}
