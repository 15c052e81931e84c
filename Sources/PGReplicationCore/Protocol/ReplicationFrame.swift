import PGOutput

/// A server-to-client CopyData message of the streaming replication protocol.
///
/// Layouts (big-endian, after the type byte):
/// - `w` XLogData: Int64 data start, Int64 server WAL end, Int64 send time, then the payload.
/// - `k` primary keepalive: Int64 server WAL end, Int64 send time, Byte1 reply requested.
///
/// Related PostgreSQL documentation: <https://www.postgresql.org/docs/current/protocol-replication.html>
public enum ReplicationFrame: Hashable, Sendable {
    /// `w`: WAL data; the payload follows the 25-byte header.
    case xLogData(XLogDataHeader)
    /// `k`: a primary keepalive.
    case keepalive(PrimaryKeepalive)

    /// Whether the CopyData message in `bytes` is a primary keepalive (`k`), by its type byte
    /// alone: for a reader that sets keepalives aside before parsing them.
    public static func isKeepalive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.first == UInt8(ascii: "k")
    }

    /// Parses the header of one CopyData message.
    ///
    /// Unlike psycopg2, an XLogData with an empty payload (exactly 25 bytes) is accepted.
    /// - Throws: `PGError` (`.operational`) for a short header or an unknown message type.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> ReplicationFrame {
        guard let type = bytes.first else {
            throw PGError(.operational, "empty replication message")
        }
        switch type {
        case UInt8(ascii: "w"):
            guard bytes.count >= XLogDataHeader.size else {
                throw PGError(.operational, "data message header too small: \(bytes.count) bytes, expected at least 25")
            }
            return .xLogData(
                XLogDataHeader(
                    dataStart: LSN(rawValue: bytes.loadBigEndian(at: 1)),
                    walEnd: LSN(rawValue: bytes.loadBigEndian(at: 9)),
                    sendTime: PostgresTimestamp(rawValue: Int64(bitPattern: bytes.loadBigEndian(at: 17)))))
        case UInt8(ascii: "k"):
            guard bytes.count >= PrimaryKeepalive.size else {
                throw PGError(.operational, "keepalive message header too small: \(bytes.count) bytes, expected 18")
            }
            return .keepalive(
                PrimaryKeepalive(
                    walEnd: LSN(rawValue: bytes.loadBigEndian(at: 1)),
                    sendTime: PostgresTimestamp(rawValue: Int64(bitPattern: bytes.loadBigEndian(at: 9))),
                    replyRequested: bytes[17] != 0))
        default:
            let printable = (0x20..<0x7f).contains(type) ? "'\(Character(Unicode.Scalar(type)))' " : ""
            throw PGError(
                .operational, "unrecognized replication message type \(printable)(0x\(String(type, radix: 16)))")
        }
    }
}

/// The header of an XLogData (`w`) message.
///
/// On a **logical** stream the server puts the same LSN in ``dataStart`` and ``walEnd``: the
/// position of the decoded change (the commit's end LSN for a Commit message), or zero for
/// writes that are not the last of their change (Relation, Type). On a **physical** stream
/// `dataStart + payload size` is the end of the received WAL.
public struct XLogDataHeader: Hashable, Sendable {
    /// The header size including the type byte.
    public static let size = 25
    public var dataStart: LSN
    public var walEnd: LSN
    public var sendTime: PostgresTimestamp

    public init(dataStart: LSN, walEnd: LSN, sendTime: PostgresTimestamp) {
        self.dataStart = dataStart
        self.walEnd = walEnd
        self.sendTime = sendTime
    }
}

/// A primary keepalive (`k`) message.
public struct PrimaryKeepalive: Hashable, Sendable {
    /// The message size including the type byte.
    public static let size = 18
    /// The server's current end of WAL.
    public var walEnd: LSN
    /// The server's clock when it sent the message.
    public var sendTime: PostgresTimestamp
    /// Whether the server asks for a status update right away (it does so at half of
    /// `wal_sender_timeout` without news from the client).
    public var replyRequested: Bool

    public init(walEnd: LSN, sendTime: PostgresTimestamp, replyRequested: Bool) {
        self.walEnd = walEnd
        self.sendTime = sendTime
        self.replyRequested = replyRequested
    }
}

/// The standby status update (`r`) a client sends: 34 bytes.
///
/// Layout: `r`, Int64 written, Int64 flushed, Int64 applied, Int64 client clock (µs since
/// 2000-01-01 UTC), Byte1 reply requested. On a logical slot only ``flush`` moves
/// `confirmed_flush_lsn`.
public struct StandbyStatusUpdate: Hashable, Sendable {
    public static let size = 34
    public var write: LSN
    public var flush: LSN
    public var apply: LSN
    public var clock: PostgresTimestamp
    public var replyRequested: Bool

    public init(write: LSN, flush: LSN, apply: LSN, clock: PostgresTimestamp, replyRequested: Bool) {
        self.write = write
        self.flush = flush
        self.apply = apply
        self.clock = clock
        self.replyRequested = replyRequested
    }

    /// The 34 wire bytes.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.size)
        out.append(UInt8(ascii: "r"))
        for value in [write.rawValue, flush.rawValue, apply.rawValue, UInt64(bitPattern: clock.rawValue)] {
            withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
        }
        out.append(replyRequested ? 1 : 0)
        return out
    }
}

extension UnsafeRawBufferPointer {
    /// A big-endian UInt64 at `offset`; the caller has checked the bounds.
    @inline(__always)
    func loadBigEndian(at offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
