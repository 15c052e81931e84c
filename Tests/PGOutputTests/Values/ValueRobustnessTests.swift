import PGOutput
import Testing

/// Truncated and corrupted values throw or decode; they never trap.
@Suite struct ValueRobustnessTests {
    /// Every captured value of a known type, with its type, in both formats.
    static func capturedValues() throws -> [(type: UInt32, column: TupleData.Column)] {
        let capture = try FixtureCapture.load()
        var values: [(UInt32, TupleData.Column)] = []
        for row in capture.rows {
            for (position, column) in capture.columns.enumerated() where Self.isKnown(column.typeOID) {
                values.append((column.typeOID, row.textTuple.columns[position]))
                values.append((column.typeOID, row.binaryTuple.columns[position]))
            }
        }
        return values
    }

    static func isKnown(_ oid: UInt32) -> Bool {
        let type = PGTypeOID(oid)
        return type.arrayElementType != nil || !type.description.hasPrefix("type ")
    }

    @Test func everyStrictPrefixOfABinaryValueThrowsOrDecodes() throws {
        var checked = 0
        var threw = 0
        for (type, column) in try Self.capturedValues() {
            guard case .binary(let bytes) = column else { continue }
            for length in 0..<bytes.count {
                checked += 1
                do {
                    _ = try PGValue(column: .binary(Array(bytes.prefix(length))), typeOID: type)
                } catch {
                    threw += 1
                }
            }
        }
        #expect(checked > 1000)
        #expect(threw > checked / 2)
    }

    /// What a damaged value gave: a value that renders, or an error that says what is wrong.
    struct Outcomes {
        var decoded = 0
        var threw = 0
        var silent: [String] = []

        mutating func probe(_ column: TupleData.Column, _ type: UInt32) {
            do {
                // A value that decodes renders (an empty text is a value too).
                _ = try PGValue(column: column, typeOID: type).description
                decoded += 1
            } catch {
                threw += 1
                if error.description.isEmpty { silent.append("type \(type): an error without a message") }
            }
        }
    }

    @Test func everyStrictPrefixOfATextValueThrowsOrDecodes() throws {
        var outcomes = Outcomes()
        for (type, column) in try Self.capturedValues() {
            guard case .text(let bytes) = column, bytes.count < 300 else { continue }
            for length in 0..<bytes.count { outcomes.probe(.text(Array(bytes.prefix(length))), type) }
        }
        // Both outcomes occur (a prefix of "123" is a number, of "2024-01-01" is not a date).
        #expect(outcomes.decoded > 100 && outcomes.threw > 100, "\(outcomes.decoded) decoded, \(outcomes.threw) threw")
        #expect(outcomes.silent.isEmpty, "\(outcomes.silent.prefix(5))")
    }

    @Test func randomMutationsThrowOrDecode() throws {
        var outcomes = Outcomes()
        var random = SplitMix64(seed: 0x5EED_2026)
        let values = try Self.capturedValues()
        let interesting: [UInt8] = [0x00, 0xFF, 0x7F, 0x80, 0x2C, 0x7B, 0x7D, 0x22, 0x5C, 0x2D, 0x3A, 0x2E]
        let clock = ContinuousClock()
        let start = clock.now
        var attempts = 0
        while clock.now - start < .milliseconds(1500), attempts < 200_000 {
            attempts += 1
            let (type, column) = values[Int.random(in: 0..<values.count, using: &random)]
            let isText: Bool
            var bytes: [UInt8]
            switch column {
            case .text(let value): (isText, bytes) = (true, value)
            case .binary(let value): (isText, bytes) = (false, value)
            default: continue
            }
            guard !bytes.isEmpty else { continue }
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes[index] = interesting[Int.random(in: 0..<interesting.count, using: &random)]
                case 2: bytes.remove(at: index)
                default: bytes.insert(UInt8.random(in: 0...255, using: &random), at: index)
                }
                if bytes.isEmpty { break }
            }
            outcomes.probe(isText ? .text(bytes) : .binary(bytes), type)
        }
        #expect(attempts > 1000)
        #expect(outcomes.decoded > 100 && outcomes.threw > 100, "\(outcomes.decoded) decoded, \(outcomes.threw) threw")
        #expect(outcomes.silent.isEmpty, "\(outcomes.silent.prefix(5))")
    }
}
