/// The two encodings a pgoutput column value can arrive in.
public enum PGValueFormat: Hashable, Sendable, CustomStringConvertible {
    /// The type's text output function (`t` in TupleData).
    case text
    /// The type's binary send function (`b` in TupleData, with the `binary` option).
    case binary

    public var description: String {
        switch self {
        case .text: "text"
        case .binary: "binary"
        }
    }
}

/// A column value of a known type whose bytes are not a valid encoding of that type.
///
/// The error names the type, the format, the byte offset inside the value where decoding failed
/// and what was expected there, for example
/// `invalid int4 value (text format) at byte 3: expected a decimal digit`.
public struct PGValueDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The type that was being decoded (for an array element, the element type).
    public var type: PGTypeOID
    /// The format of the bytes; `nil` when the error is about the row rather than one value.
    public var format: PGValueFormat?
    /// The byte offset, from the start of the column value, where decoding failed.
    public var offset: Int
    /// What was expected at ``offset``.
    public var expected: String
    /// The column's name, when the value was decoded as part of a ``PGRow``.
    public var column: String?

    public init(type: PGTypeOID, format: PGValueFormat?, offset: Int, expected: String, column: String? = nil) {
        self.type = type
        self.format = format
        self.offset = offset
        self.expected = expected
        self.column = column
    }

    public var description: String {
        var text = "invalid \(type) value"
        if let format { text += " (\(format) format)" }
        if let column { text += " in column \"\(column)\"" }
        return text + " at byte \(offset): expected \(expected)"
    }
}
