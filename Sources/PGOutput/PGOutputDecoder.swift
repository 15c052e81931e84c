/// Decodes pgoutput messages, one XLogData payload at a time, keeping the session state the
/// protocol needs.
///
/// The decoder tracks whether it is inside a Stream Start … Stream Stop block (which decides
/// whether changes carry an extra xid) and caches Relation and Type messages so Insert, Update and
/// Delete can be matched with their table.
///
/// ```swift
/// var decoder = PGOutputDecoder(protocolVersion: 2, streaming: .on)
/// switch try decoder.decode(payload) {
/// case .insert(let insert):
///     let table = decoder.relation(for: insert.relationOID)
///     …
/// default: break
/// }
/// ```
///
/// Create one decoder per replication session and call ``reset()`` when a new walsender session
/// starts: the server then re-sends Relation messages from scratch.
///
/// Related PostgreSQL documentation:
/// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
public struct PGOutputDecoder: Sendable {
    /// The `streaming` option requested in `START_REPLICATION`.
    public enum StreamingMode: Hashable, Sendable {
        /// No streaming of in-progress transactions.
        case off
        /// `streaming 'on'` (protocol 2 or later).
        case on
        /// `streaming 'parallel'` (protocol 4): Stream Abort carries the abort LSN and time.
        case parallel
    }

    /// The `proto_version` requested in `START_REPLICATION`.
    public var protocolVersion: Int
    /// The `streaming` option requested in `START_REPLICATION`.
    public var streaming: StreamingMode
    /// Whether the last structural message was a Stream Start not yet closed by a Stream Stop.
    public private(set) var inStream: Bool = false
    /// The last Relation message received for each relation OID in this session.
    public private(set) var relations: [UInt32: PGOutputMessage.Relation] = [:]
    /// The last Type message received for each type OID in this session.
    public private(set) var types: [UInt32: PGOutputMessage.TypeDefinition] = [:]
    /// Tuple buffers handed out again once the messages that held them are gone.
    private var tuplePool = WireBytes.Pool()

    /// Creates a decoder for a session started with the given options.
    ///
    /// - Parameters:
    ///   - protocolVersion: The `proto_version` option (1 to 4).
    ///   - streaming: The `streaming` option.
    public init(protocolVersion: Int = 1, streaming: StreamingMode = .off) {
        self.protocolVersion = protocolVersion
        self.streaming = streaming
    }

    /// The cached Relation message for a table OID, or `nil` if none was received this session.
    public func relation(for oid: UInt32) -> PGOutputMessage.Relation? { relations[oid] }

    /// The cached Relation for the table an Insert, Update or Delete message changes.
    public func relation(for message: PGOutputMessage) -> PGOutputMessage.Relation? {
        message.relationOID.flatMap { relations[$0] }
    }

    /// The cached Type message for a type OID, or `nil`.
    public func typeDefinition(for oid: UInt32) -> PGOutputMessage.TypeDefinition? { types[oid] }

    /// Forgets all session state: empties the caches and leaves any stream block. Call it when a new
    /// walsender session (a new `START_REPLICATION`) starts.
    public mutating func reset() {
        relations = [:]
        types = [:]
        inStream = false
    }

    /// Decodes one pgoutput message.
    ///
    /// The bytes must hold exactly one message, starting with its tag byte. On success the
    /// decoder's state (stream block, caches) is updated; on failure it is left unchanged.
    ///
    /// - Parameter bytes: The XLogData payload.
    /// - Returns: The decoded message, which owns copies of all its bytes.
    /// - Throws: ``PGOutputDecodingError`` when the bytes are not a valid message.
    public mutating func decode(_ bytes: [UInt8]) throws(PGOutputDecodingError) -> PGOutputMessage {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(PGOutputDecodingError) in try decode(buffer) }
        }
        return try result.get()
    }

    /// Decodes one pgoutput message from borrowed bytes; nothing in the result refers to them.
    ///
    /// - Parameter buffer: The XLogData payload.
    /// - Returns: The decoded message.
    /// - Throws: ``PGOutputDecodingError`` when the bytes are not a valid message.
    public mutating func decode(_ buffer: UnsafeRawBufferPointer) throws(PGOutputDecodingError) -> PGOutputMessage {
        var reader = MessageReader(buffer)
        let tag = try reader.readByte()
        reader.messageType = tag
        guard let kind = PGOutputMessage.MessageKind(rawValue: tag) else {
            throw reader.error(.unknownMessageType, at: 0)
        }
        return try decodeBody(kind, from: &reader)
    }

    /// Decodes one pgoutput message from bytes that `owner` keeps alive and never changes: a large
    /// tuple (1 MiB or more) refers to them instead of a copy, and keeps `owner`.
    package mutating func decode(
        _ buffer: UnsafeRawBufferPointer, lendingFrom owner: AnyObject
    ) throws(PGOutputDecodingError) -> PGOutputMessage {
        tuplePool.owner = owner
        defer { tuplePool.owner = nil }
        return try decode(buffer)
    }

    /// Decodes the body of a message, checks that nothing follows it, then updates the session
    /// state: the one switch over the message kinds. Row messages come first: they are nearly all
    /// of a stream.
    @inline(__always)
    private mutating func decodeBody(
        _ kind: PGOutputMessage.MessageKind, from reader: inout MessageReader
    )
        throws(PGOutputDecodingError) -> PGOutputMessage
    {
        let streamXID = inStream
        let message: PGOutputMessage
        switch kind {
        case .insert:
            message = .insert(try .decode(from: &reader, streamXID: streamXID, pool: &tuplePool))
        case .update:
            message = .update(try .decode(from: &reader, streamXID: streamXID, pool: &tuplePool))
        case .delete:
            message = .delete(try .decode(from: &reader, streamXID: streamXID, pool: &tuplePool))
        // The session state changes only for a whole message: after the check of its end.
        case .relation:
            let relation = try PGOutputMessage.Relation.decode(from: &reader, streamXID: streamXID)
            try reader.expectEnd()
            relations[relation.oid] = relation
            return .relation(relation)
        case .type:
            let type = try PGOutputMessage.TypeDefinition.decode(from: &reader, streamXID: streamXID)
            try reader.expectEnd()
            types[type.oid] = type
            return .type(type)
        case .streamStart:
            let start = PGOutputMessage.streamStart(try .decode(from: &reader))
            try reader.expectEnd()
            inStream = true
            return start
        case .streamStop:
            try reader.expectEnd()
            inStream = false
            return .streamStop(PGOutputMessage.StreamStop())
        case .begin: message = .begin(try .decode(from: &reader))
        case .commit: message = .commit(try .decode(from: &reader))
        case .origin: message = .origin(try .decode(from: &reader))
        case .truncate: message = .truncate(try .decode(from: &reader, streamXID: streamXID))
        case .message: message = .message(try .decode(from: &reader, streamXID: streamXID))
        case .streamCommit: message = .streamCommit(try .decode(from: &reader))
        case .streamAbort:
            message = .streamAbort(
                try .decode(from: &reader, parallelFields: protocolVersion >= 4 && streaming == .parallel))
        case .beginPrepare: message = .beginPrepare(try .decode(from: &reader))
        case .prepare: message = .prepare(try .decode(from: &reader))
        case .commitPrepared: message = .commitPrepared(try .decode(from: &reader))
        case .rollbackPrepared: message = .rollbackPrepared(try .decode(from: &reader))
        case .streamPrepare: message = .streamPrepare(try .decode(from: &reader))
        }
        try reader.expectEnd()
        return message
    }
}
