import Foundation
import PGOutput

/// One XLogData message from the server: psycopg2's `ReplicationMessage`.
///
/// The message owns the buffer libpq allocated for it (freed when the last copy of the message
/// goes); ``payload`` and ``payloadBytes`` copy out of it, ``withUnsafePayload(_:)`` lends it.
///
/// - Important: A message refers to its ``cursor`` and so has the cursor's single owner; copy
///   the fields you need before handing data to another thread.
public struct ReplicationMessage {
    /// The payload as psycopg2 gives it: bytes, or text when the stream was started with
    /// `decode: true`.
    public enum Payload: Hashable, Sendable {
        case bytes([UInt8])
        case text(String)
    }

    let buffer: CopyDataBuffer
    let decodedText: String?

    /// The header's start LSN. On logical streams it equals ``walEnd`` (see `XLogDataHeader`).
    public let dataStart: LSN
    /// The header's server WAL end.
    public let walEnd: LSN
    /// The server's clock when it sent the message (raw µs since 2000-01-01 UTC).
    public let sendTimestamp: PostgresTimestamp
    /// The cursor to call ``ReplicationCursor/sendFeedback(writeLSN:flushLSN:applyLSN:reply:force:)`` on.
    public let cursor: ReplicationCursor

    init(buffer: CopyDataBuffer, header: XLogDataHeader, text: String?, cursor: ReplicationCursor) {
        self.buffer = buffer
        self.dataStart = header.dataStart
        self.walEnd = header.walEnd
        self.sendTimestamp = header.sendTime
        self.decodedText = text
        self.cursor = cursor
    }

    /// The payload size in bytes (before any text decoding).
    public var dataSize: Int { buffer.count - XLogDataHeader.size }

    /// The server's send time as a `Date`.
    public var sendTime: Date { sendTimestamp.date }

    /// Bytes, or text with `decode: true`.
    public var payload: Payload {
        if let decodedText { return .text(decodedText) }
        return .bytes(payloadBytes)
    }

    /// The payload bytes (a copy), whatever `decode` was.
    public var payloadBytes: [UInt8] { withUnsafePayload { Array($0) } }

    /// The payload decoded as UTF-8 text (the server's text for test_decoding and wal2json).
    public var payloadText: String { decodedText ?? withUnsafePayload { String(decoding: $0, as: UTF8.self) } }

    /// Lends the payload bytes without copying.
    ///
    /// - Important: The buffer is valid only during `body`; do not let it escape.
    public func withUnsafePayload<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(rebasing: buffer.bytes[XLogDataHeader.size...]))
    }
}

@available(*, unavailable, message: "a message refers to its cursor, which has one owner")
extension ReplicationMessage: Sendable {}

extension ReplicationMessage: CustomStringConvertible {
    /// psycopg2's repr fields: size, data start, WAL end and raw send time.
    public var description: String {
        "ReplicationMessage(dataSize: \(dataSize), dataStart: \(dataStart), walEnd: \(walEnd), sendTime: \(sendTimestamp.rawValue))"
    }
}
