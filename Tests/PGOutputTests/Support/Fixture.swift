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
                let text = try? String(contentsOf: url, encoding: .utf8)
            else { continue }
            result[fixture] = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap(hexBytes)
        }
        return result
    }()

    /// Every message decoded in order with the capture's decoder settings.
    func decodedMessages() throws -> [PGOutputMessage] {
        var decoder = decoder
        return try messages.map { try decoder.decode($0) }
    }
}

/// Parses a hex string ("42ff…") into bytes; `nil` if it is not hex.
func hexBytes(_ hex: Substring) -> [UInt8]? {
    let digits = Array(hex.utf8)
    guard digits.count % 2 == 0 else { return nil }
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(digits.count / 2)
    var index = 0
    while index < digits.count {
        guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
        bytes.append(high << 4 | low)
        index += 2
    }
    return bytes
}
