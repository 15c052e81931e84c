import PGOutput
import Testing

@testable import PGReplicationCore

@Suite struct ReplicationFrameTests {
    func bytes(_ type: Character, _ values: [UInt64], tail: [UInt8] = []) -> [UInt8] {
        var out = [UInt8(ascii: type.unicodeScalars.first ?? "?")]
        for value in values { withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) } }
        return out + tail
    }

    @Test func parsesXLogDataHeader() throws {
        let frame = bytes("w", [0x1_0000_0010, 0x1_0000_0020, 123_456], tail: [0x42, 0x43])
        let parsed = try frame.withUnsafeBytes { try ReplicationFrame.parse($0) }
        #expect(
            parsed
                == .xLogData(
                    XLogDataHeader(
                        dataStart: 0x1_0000_0010, walEnd: 0x1_0000_0020, sendTime: PostgresTimestamp(rawValue: 123_456))
                ))
    }

    @Test func acceptsAnEmptyXLogDataPayload() throws {
        let frame = bytes("w", [1, 2, 3])
        #expect(frame.count == 25)
        #expect(throws: Never.self) { try frame.withUnsafeBytes { try ReplicationFrame.parse($0) } }
    }

    @Test func parsesKeepalive() throws {
        let frame = bytes("k", [0xABCD, 99], tail: [1])
        let parsed = try frame.withUnsafeBytes { try ReplicationFrame.parse($0) }
        #expect(
            parsed
                == .keepalive(
                    PrimaryKeepalive(walEnd: 0xABCD, sendTime: PostgresTimestamp(rawValue: 99), replyRequested: true)))
    }

    @Test(arguments: [
        [UInt8](), [UInt8(ascii: "w")] + [UInt8](repeating: 0, count: 23),
        [UInt8(ascii: "k")] + [UInt8](repeating: 0, count: 16), [UInt8(ascii: "x"), 0],
    ])
    func rejectsShortOrUnknownFrames(frame: [UInt8]) {
        #expect(throws: PGError.self) { try frame.withUnsafeBytes { try ReplicationFrame.parse($0) } }
    }

    /// Every prefix of a keepalive and of an XLogData frame: the whole frame parses, and every
    /// shorter one is refused with an error that says what is wrong (never a trap, never a header
    /// read past the end).
    @Test func everyPrefixOfAFrameEitherParsesOrThrows() {
        for frame in [bytes("k", [1, 2], tail: [0]), bytes("w", [1, 2, 3], tail: [0x42, 0x43])] {
            let whole = frame[0] == UInt8(ascii: "k") ? PrimaryKeepalive.size : XLogDataHeader.size
            for end in 0...frame.count {
                let prefix = Array(frame[..<end])
                do {
                    _ = try prefix.withUnsafeBytes { try ReplicationFrame.parse($0) }
                    #expect(end >= whole, "a frame of \(end) bytes parsed")
                } catch {
                    #expect(end < whole, "a frame of \(end) bytes refused: \(error)")
                    #expect(!"\(error)".isEmpty)
                }
            }
        }
    }

    @Test func standbyStatusUpdateIs34Bytes() {
        let update = StandbyStatusUpdate(
            write: 0x10, flush: 0x1_0000_0020, apply: 0x30, clock: PostgresTimestamp(rawValue: -1), replyRequested: true
        )
        let wire = update.bytes
        #expect(wire.count == 34)
        #expect(wire[0] == UInt8(ascii: "r"))
        #expect(Array(wire[1..<9]) == [0, 0, 0, 0, 0, 0, 0, 0x10])
        #expect(Array(wire[9..<17]) == [0, 0, 0, 1, 0, 0, 0, 0x20])
        #expect(Array(wire[25..<33]) == [UInt8](repeating: 0xFF, count: 8))
        #expect(wire[33] == 1)
    }
}
