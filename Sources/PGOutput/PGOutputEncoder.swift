/// Writes pgoutput messages back to their wire bytes.
///
/// The encoder is the inverse of ``PGOutputDecoder``: decoding its output with a decoder in the
/// matching state gives the same message back. It writes a streamed xid when the payload's `xid`
/// is non-`nil`, and Stream Abort's abort LSN and time when they are set, so it can build streams
/// for any protocol version. Use it in tests and to build synthetic streams.
///
/// ```swift
/// let bytes = PGOutputEncoder().encode(.begin(.init(finalLSN: 0x16_B374_D848, commitTime: .now(), xid: 750)))
/// ```
///
/// Related PostgreSQL documentation:
/// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
public struct PGOutputEncoder: Sendable {
    public init() {}

    /// The wire bytes of one message, starting with its tag byte.
    public func encode(_ message: PGOutputMessage) -> [UInt8] {
        var bytes: [UInt8] = []
        encode(message, into: &bytes)
        return bytes
    }

    /// Appends the wire bytes of one message to `bytes`.
    public func encode(_ message: PGOutputMessage, into bytes: inout [UInt8]) {
        var writer = ByteWriter(bytes: bytes)
        bytes = []
        writer.writeInteger(message.kind.rawValue)
        switch message {
        case .begin(let m): m.encode(into: &writer)
        case .commit(let m): m.encode(into: &writer)
        case .origin(let m): m.encode(into: &writer)
        case .relation(let m): m.encode(into: &writer)
        case .type(let m): m.encode(into: &writer)
        case .insert(let m): m.encode(into: &writer)
        case .update(let m): m.encode(into: &writer)
        case .delete(let m): m.encode(into: &writer)
        case .truncate(let m): m.encode(into: &writer)
        case .message(let m): m.encode(into: &writer)
        case .streamStart(let m): m.encode(into: &writer)
        case .streamStop: break
        case .streamCommit(let m): m.encode(into: &writer)
        case .streamAbort(let m): m.encode(into: &writer)
        case .beginPrepare(let m): m.encode(into: &writer)
        case .prepare(let m), .streamPrepare(let m): m.encode(into: &writer)
        case .commitPrepared(let m): m.encode(into: &writer)
        case .rollbackPrepared(let m): m.encode(into: &writer)
        }
        bytes = writer.bytes
    }
}
