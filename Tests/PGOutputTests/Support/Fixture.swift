import Foundation
import PGOutput
import Testing

/// A golden capture under `Fixtures/<mode>/messages.hex` (see `Fixtures/README.md`).
enum Fixture: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case proto1Text = "proto1-text"
    case proto1Binary = "proto1-binary"
    case proto2Streaming = "proto2-streaming"
    case proto3TwoPhase = "proto3-twophase"

    var testDescription: String { rawValue }

    /// A decoder configured with the options the capture used.
    var decoder: PGOutputDecoder {
        switch self {
        case .proto1Text, .proto1Binary: PGOutputDecoder(protocolVersion: 1)
        case .proto2Streaming: PGOutputDecoder(protocolVersion: 2, streaming: .on)
        case .proto3TwoPhase: PGOutputDecoder(protocolVersion: 3, streaming: .on)
        }
    }

    /// The captured messages, in stream order.
    var messages: [[UInt8]] { Self.loaded[self] ?? [] }

    private static let loaded: [Fixture: [[UInt8]]] = {
        var result: [Fixture: [[UInt8]]] = [:]
        for fixture in Fixture.allCases {
            guard
                let url = Bundle.module.url(
                    forResource: "messages", withExtension: "hex", subdirectory: "Fixtures/\(fixture.rawValue)"),
                // A fixture that cannot be read has no messages, which decodesAndReencodesEveryMessage fails.
                let data = try? Data(contentsOf: url)
            else { continue }
            result[fixture] = parseHexLines([UInt8](data))
        }
        return result
    }()

    /// Every message decoded in order with the capture's decoder settings.
    func decodedMessages() throws -> [PGOutputMessage] {
        var decoder = decoder
        return try messages.map { try decoder.decode($0) }
    }
}

/// Parses lines of hex ("42ff…"), skipping `#` comment lines and blank lines; a line that is not
/// hex becomes an empty message (which then fails to decode loudly).
func parseHexLines(_ text: [UInt8]) -> [[UInt8]] {
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    return text.withUnsafeBufferPointer { text in
        var messages: [[UInt8]] = []
        var start = 0
        while start < text.count {
            var end = start
            while end < text.count && text[end] != UInt8(ascii: "\n") { end += 1 }
            defer { start = end + 1 }
            if end == start || text[start] == UInt8(ascii: "#") { continue }
            var bytes: [UInt8] = []
            bytes.reserveCapacity((end - start) / 2)
            var index = start
            while index + 1 < end, let high = nibble(text[index]), let low = nibble(text[index + 1]) {
                bytes.append(high << 4 | low)
                index += 2
            }
            messages.append(index == end ? bytes : [])
        }
        return messages
    }
}
