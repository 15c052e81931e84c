import PGOutput
import Testing

/// Bad input must throw, never trap.
@Suite struct RobustnessTests {
    /// Every strict prefix of every captured message throws a truncation error, decoded in the
    /// state the full message was decoded in.
    @Test(arguments: Fixture.allCases)
    func everyStrictPrefixThrowsTruncated(_ fixture: Fixture) throws {
        var decoder = fixture.decoder
        var checked = 0
        var failures: [String] = []
        for (index, bytes) in fixture.messages.enumerated() {
            bytes.withUnsafeBytes { buffer in
                for length in 0..<buffer.count {
                    var probe = decoder
                    checked += 1
                    do throws(PGOutputDecodingError) {
                        _ = try probe.decode(UnsafeRawBufferPointer(rebasing: buffer[..<length]))
                        failures.append("message \(index) prefix \(length) decoded")
                    } catch  where error.kind.code == .truncated || error.kind.code == .missingStringTerminator {
                        // The expected refusal of a cut message; any other is recorded below.
                    } catch {
                        failures.append("message \(index) prefix \(length): \(error)")
                    }
                }
            }
            _ = try decoder.decode(bytes)
        }
        #expect(checked > 0)
        #expect(failures.isEmpty, "\(failures.count) bad prefixes, first: \(failures.prefix(5))")
    }

    /// Random byte flips, insertions, deletions and truncations of captured messages either throw or
    /// decode to a message that re-encodes to exactly the mutated bytes. Bounded to about 2 seconds.
    @Test func randomMutationsNeverCrash() throws {
        var rng = SplitMix64(seed: 0x5EED_F00D)
        let corpus = Fixture.allCases.flatMap { fixture in fixture.messages.map { (fixture, $0) } }
        try #require(!corpus.isEmpty)
        let encoder = PGOutputEncoder()
        let deadline = ContinuousClock.now.advanced(by: .seconds(2))
        var iterations = 0
        var decodedCount = 0
        var reencodeMismatches: [[UInt8]] = []
        while ContinuousClock.now < deadline {
            for _ in 0..<200 {
                let (fixture, original) = corpus[Int(rng.next() % UInt64(corpus.count))]
                var bytes = original
                for _ in 0...(rng.next() % 4) { mutate(&bytes, &rng) }
                var decoder = fixture.decoder
                if rng.next() % 2 == 0 { decoder = PGOutputDecoder(protocolVersion: 4, streaming: .parallel) }
                // Puts the decoder inside a stream block: its own result does not matter.
                if rng.next() % 2 == 0 { _ = try? decoder.decode([UInt8(ascii: "S"), 0, 0, 0, 1, 1]) }
                iterations += 1
                // Damaged input may be refused (the property is "no trap"); what decodes is checked.
                guard let message = try? decoder.decode(bytes) else { continue }
                decodedCount += 1
                if encoder.encode(message) != bytes { reencodeMismatches.append(bytes) }
            }
        }
        #expect(iterations > 1000)
        #expect(decodedCount > 0)
        #expect(reencodeMismatches.isEmpty, "first mismatch: \(reencodeMismatches.first ?? [])")
    }

    private func mutate(_ bytes: inout [UInt8], _ rng: inout SplitMix64) {
        let position = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
        let value = UInt8(truncatingIfNeeded: rng.next())
        switch rng.next() % 5 {
        case 0 where !bytes.isEmpty: bytes[position] ^= 1 << (value % 8)
        case 1 where !bytes.isEmpty: bytes[position] = value
        case 2: bytes.insert(value, at: position)
        case 3 where !bytes.isEmpty: bytes.remove(at: position)
        default: bytes.removeLast(bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count)))
        }
    }

    /// Regression inputs: counts and lengths at their extremes.
    @Test(arguments: [
        MessageBuilder("I").uint32(1).char("N").int16(.min).bytes,
        MessageBuilder("I").uint32(1).char("N").int16(1).char("t").int32(.max).bytes,
        MessageBuilder("I").uint32(1).char("N").int16(1).char("b").int32(.min).bytes,
        MessageBuilder("T").int32(.min).int8(0).bytes,
        MessageBuilder("M").int8(0).lsn(0).string("").int32(.min).bytes,
        MessageBuilder("R").uint32(1).string("").string("").char("d").int16(.max).bytes,
        [UInt8(ascii: "R")] + [UInt8](repeating: 0xFF, count: 40),
    ])
    func extremeCountsAndLengthsThrow(_ bytes: [UInt8]) {
        var decoder = PGOutputDecoder()
        #expect(throws: PGOutputDecodingError.self) { try decoder.decode(bytes) }
    }
}

/// A small seeded generator, so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
