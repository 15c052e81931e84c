import Foundation
import PGReplication

/// A failure as `pgrepl` reports it: what failed, why, and the exit status.
///
/// Every subcommand throws these (or lets ``attempt(_:_:)`` turn other errors into them), and
/// ``PGRepl/main(arguments:)`` prints ``line`` to stderr and exits with ``status``:
///
/// ```
/// pgrepl: dropping slot "nope": replication slot "nope" does not exist (SQLSTATE 42704)
/// ```
public struct CLIError: Error, Sendable, CustomStringConvertible {
    public var status: ExitStatus
    /// What was being done, e.g. `dropping slot "app"`; empty when the message says it all.
    public var context: String
    public var message: String
    public var sqlState: String?
    public var hint: String?

    public init(
        _ status: ExitStatus, _ context: String, _ message: String, sqlState: String? = nil, hint: String? = nil
    ) {
        self.status = status
        self.context = context
        self.message = message
        self.sqlState = sqlState
        self.hint = hint
    }

    /// The one line printed to stderr: whitespace collapsed, passwords masked.
    public var line: String {
        var text = "pgrepl: "
        if !context.isEmpty { text += context + ": " }
        text += message
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let hint, !hint.isEmpty { text += "; hint: \(hint)" }
        return maskPasswords(oneLine(text))
    }

    public var description: String { line }

    /// Any error as a `CLIError`, with `context` unless it already has one.
    public static func wrapping(_ error: any Error, context: String) -> CLIError {
        switch error {
        case let error as CLIError:
            return error.context.isEmpty
                ? CLIError(error.status, context, error.message, sqlState: error.sqlState, hint: error.hint) : error
        case let error as PGError:
            return CLIError(
                status(for: error), context, error.message, sqlState: error.sqlState?.rawValue, hint: error.hint)
        case let error as ChangeStreamError:
            switch error.kind {
            case .slotMissing: return slotNotFound(error.slot, context: context)
            case .slotInvalidated:
                return CLIError(.server, context, error.message, sqlState: error.underlying?.sqlState?.rawValue)
            case .reconnectFailed: return CLIError(.connection, context, error.message)
            case .stalled: return CLIError(.connection, context, error.message)
            case .cannotStart:
                return CLIError(
                    error.underlying.map(status(for:)) ?? .server, context, error.message,
                    sqlState: error.underlying?.sqlState?.rawValue, hint: error.underlying?.hint)
            case .snapshotIncomplete, .backfillFailed:
                return CLIError(.server, context, error.message, sqlState: error.underlying?.sqlState?.rawValue)
            case .differentSystem:
                return CLIError(.connection, context, error.message, hint: "check the DSN's hosts")
            case .slotMovedElsewhere:
                return CLIError(
                    .server, context, error.message,
                    hint: "make sure one consumer uses the slot; pgrepl slot status shows its positions")
            default:
                return CLIError(.server, context, error.message, sqlState: error.underlying?.sqlState?.rawValue)
            }
        case let error as LSN.ParseError:
            return CLIError(.usage, context, error.description)
        case let error as CocoaError:
            return CLIError(.io, context, error.underlying.map(\.localizedDescription) ?? error.localizedDescription)
        default:
            return CLIError(.server, context, String(describing: error))
        }
    }

    /// The exit status for a library error: connection problems (class 08, 28 or a lost
    /// connection), server errors (any other SQLSTATE), argument checks (programming errors
    /// without a SQLSTATE).
    static func status(for error: PGError) -> ExitStatus {
        if error.connectionLost { return .connection }
        if let sqlState = error.sqlState {
            return ["08", "28"].contains(sqlState.errorClass) ? .connection : .server
        }
        return error.kind == .programming ? .usage : .server
    }

    /// A slot that is not there, worded and coded as the server reports it for DROP_REPLICATION_SLOT.
    static func slotNotFound(_ slot: String, context: String) -> CLIError {
        CLIError(
            .server, context, "replication slot \"\(slot)\" does not exist", sqlState: SQLState.undefinedObject.rawValue
        )
    }

    /// An I/O failure with the text of `errno`.
    static func io(_ context: String, errno code: Int32 = errno) -> CLIError {
        CLIError(.io, context, String(cString: strerror(code)))
    }
}

extension CocoaError {
    fileprivate var underlying: (any Error)? { userInfo[NSUnderlyingErrorKey] as? any Error }
}

/// Runs `body`; any error it throws becomes a ``CLIError`` saying `what` failed.
func attempt<T>(_ what: @autoclosure () -> String, _ body: () throws -> T) throws(CLIError) -> T {
    do {
        return try body()
    } catch {
        throw CLIError.wrapping(error, context: what())
    }
}

/// The text on one line: its lines (libpq's messages have several, the later ones indented) are
/// joined as sentences (`. ` after a line that ends without punctuation, unless the next one is a
/// parenthesis), and other runs of whitespace become one space.
func oneLine(_ text: String) -> String {
    let lines = text.split(whereSeparator: \.isNewline).map {
        $0.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
    .filter { !$0.isEmpty }
    var out = ""
    for line in lines {
        if let last = out.last { out += ".:;!?,".contains(last) || line.hasPrefix("(") ? " " : ". " }
        out += line
    }
    return out
}

/// The text with conninfo passwords (`password=…`) and URI passwords (`://user:…@`) replaced by `xxx`.
public func maskPasswords(_ text: String) -> String {
    text
        .replacing(#/(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)/#) { "\($0.output.1)xxx" }
        .replacing(#/(://[^:/@\s]*:)[^@\s]*@/#) { "\($0.output.1)xxx@" }
}
