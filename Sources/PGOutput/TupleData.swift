/// The column values of one row in an Insert, Update or Delete message.
///
/// Layout: Int16 column count, then per column a kind byte — `n` NULL, `u` unchanged TOASTed
/// value (not sent), `t` text (Int32 length + bytes), `b` binary (Int32 length + bytes). Only
/// published columns are present, in the order of the last Relation message for the table.
///
/// Related PostgreSQL documentation:
/// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
public struct TupleData: Hashable, Sendable {
    /// One column value as it came over the wire.
    public enum Column: Hashable, Sendable {
        /// `n`: SQL NULL.
        case null
        /// `u`: an unchanged out-of-line (TOASTed) value the server did not send.
        case unchangedToast
        /// `t`: the type's text output, UTF-8.
        case text([UInt8])
        /// `b`: the type's binary send-function output (only with the `binary` option).
        case binary([UInt8])
    }

    public var columns: [Column]

    public init(columns: [Column]) { self.columns = columns }
}
