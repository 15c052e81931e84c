/// An error thrown when bytes do not form a valid pgoutput message.
///
/// The error names the message being decoded (``messageType``), the byte offset inside the
/// message where decoding stopped (``offset``, counting the tag byte as offset 0) and what was
/// wrong (``kind``).
///
/// ```swift
/// do {
///     let message = try decoder.decode(bytes)
/// } catch {
///     print(error)  // pgoutput Insert ('I') message, byte offset 9: expected 4 more bytes, found 2
///     if error.kind.code == .truncated { … }
/// }
/// ```
///
/// Related PostgreSQL documentation:
/// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
public struct PGOutputDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong with the bytes.
    public var kind: Kind
    /// The message's tag byte, or `nil` when the input was empty.
    public var messageType: UInt8?
    /// The byte offset inside the message (tag byte = 0) where decoding failed.
    public var offset: Int

    public init(kind: Kind, messageType: UInt8?, offset: Int) {
        self.kind = kind
        self.messageType = messageType
        self.offset = offset
    }

    /// A readable name for ``messageType``, such as `Relation ('R')`.
    public var messageName: String {
        guard let messageType else { return "(empty input)" }
        let letter = Self.printable(messageType)
        if let kind = PGOutputMessage.MessageKind(rawValue: messageType) {
            return "\(kind.name) (\(letter))"
        }
        return "unknown message \(letter)"
    }

    public var description: String {
        "pgoutput \(messageName) message, byte offset \(offset): \(kind)"
    }

    fileprivate static func printable(_ byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "0x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16, uppercase: true)
    }
}

extension PGOutputDecodingError {
    /// What was wrong with the bytes, with the details needed to explain it.
    ///
    /// `Kind` is a struct rather than an enum so that new kinds can be added without breaking
    /// exhaustive `switch` statements in client code. Compare ``code`` to test for a family of
    /// errors regardless of its details.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Storage: Hashable, Sendable {
            case truncated(expected: Int, actual: Int)
            case unknownMessageType
            case invalidTupleKind(UInt8)
            case missingStringTerminator
            case invalidUTF8
            case trailingBytes(count: Int)
            case unexpectedByte(expected: [UInt8], found: UInt8)
            case invalidCount(Int)
            case invalidLength(Int)
        }

        fileprivate var storage: Storage

        /// The message ends `actual` bytes after the offset but the field there needs `expected`.
        public static func truncated(expected: Int, actual: Int) -> Kind {
            Kind(storage: .truncated(expected: expected, actual: actual))
        }
        /// The tag byte is not a pgoutput message type.
        public static let unknownMessageType = Kind(storage: .unknownMessageType)
        /// A TupleData column kind byte other than `n`, `u`, `t` or `b`.
        public static func invalidTupleKind(_ byte: UInt8) -> Kind { Kind(storage: .invalidTupleKind(byte)) }
        /// A String field has no NUL terminator before the end of the message.
        public static let missingStringTerminator = Kind(storage: .missingStringTerminator)
        /// A String field is not valid UTF-8.
        public static let invalidUTF8 = Kind(storage: .invalidUTF8)
        /// The message was fully decoded but `count` bytes were left over.
        public static func trailingBytes(count: Int) -> Kind { Kind(storage: .trailingBytes(count: count)) }
        /// A marker or enumerated byte (such as Update's `N`) had a value not allowed there.
        public static func unexpectedByte(expected: [UInt8], found: UInt8) -> Kind {
            Kind(storage: .unexpectedByte(expected: expected, found: found))
        }
        /// A count read from the wire (columns, relations) is negative.
        public static func invalidCount(_ count: Int) -> Kind { Kind(storage: .invalidCount(count)) }
        /// A byte length read from the wire is negative.
        public static func invalidLength(_ length: Int) -> Kind { Kind(storage: .invalidLength(length)) }

        /// The family of this error, without its details.
        public var code: Code {
            switch storage {
            case .truncated: .truncated
            case .unknownMessageType: .unknownMessageType
            case .invalidTupleKind: .invalidTupleKind
            case .missingStringTerminator: .missingStringTerminator
            case .invalidUTF8: .invalidUTF8
            case .trailingBytes: .trailingBytes
            case .unexpectedByte: .unexpectedByte
            case .invalidCount: .invalidCount
            case .invalidLength: .invalidLength
            }
        }

        public var description: String {
            switch storage {
            case .truncated(let expected, let actual):
                "truncated: expected \(expected) more byte\(expected == 1 ? "" : "s"), found \(actual)"
            case .unknownMessageType:
                "unknown message type"
            case .invalidTupleKind(let byte):
                "invalid tuple column kind \(PGOutputDecodingError.printable(byte)), expected 'n', 'u', 't' or 'b'"
            case .missingStringTerminator:
                "string has no NUL terminator before the end of the message"
            case .invalidUTF8:
                "string is not valid UTF-8"
            case .trailingBytes(let count):
                "\(count) unexpected trailing byte\(count == 1 ? "" : "s") after the message"
            case .unexpectedByte(let expected, let found):
                "expected "
                    + expected.map(PGOutputDecodingError.printable).joined(separator: " or ")
                    + ", found \(PGOutputDecodingError.printable(found))"
            case .invalidCount(let count):
                "invalid negative count \(count)"
            case .invalidLength(let length):
                "invalid negative length \(length)"
            }
        }

        /// The family of a ``Kind``, for matching without details: `error.kind.code == .truncated`.
        public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
            public var rawValue: String
            public init(rawValue: String) { self.rawValue = rawValue }
            public var description: String { rawValue }

            public static let truncated = Code(rawValue: "truncated")
            public static let unknownMessageType = Code(rawValue: "unknownMessageType")
            public static let invalidTupleKind = Code(rawValue: "invalidTupleKind")
            public static let missingStringTerminator = Code(rawValue: "missingStringTerminator")
            public static let invalidUTF8 = Code(rawValue: "invalidUTF8")
            public static let trailingBytes = Code(rawValue: "trailingBytes")
            public static let unexpectedByte = Code(rawValue: "unexpectedByte")
            public static let invalidCount = Code(rawValue: "invalidCount")
            public static let invalidLength = Code(rawValue: "invalidLength")
        }
    }
}
