import PGOutput
import Testing

@Suite struct TupleDataTests {
    @Test func invalidColumnKindThrowsAtTheKindByte() {
        let bytes = MessageBuilder("I").uint32(1).char("N").int16(2).char("n").char("x").bytes
        expectDecodingError(bytes, .invalidTupleKind(UInt8(ascii: "x")), offset: 9)
    }

    @Test func negativeColumnCountThrows() {
        let bytes = MessageBuilder("I").uint32(1).char("N").int16(-3).bytes
        expectDecodingError(bytes, .invalidCount(-3), offset: 6)
    }

    @Test func negativeValueLengthThrowsAtTheLengthField() {
        let bytes = MessageBuilder("I").uint32(1).char("N").int16(1).char("t").int32(-1).bytes
        expectDecodingError(bytes, .invalidLength(-1), offset: 9)
    }

    @Test func hugeColumnCountWithoutDataThrowsTruncated() {
        let bytes = MessageBuilder("I").uint32(1).char("N").int16(.max).bytes
        expectDecodingError(bytes, .truncated(expected: 1, actual: 0), offset: 8)
    }

    @Test func fillingUnchangedToastKeepsGapsWithoutOldValues() {
        let new = TupleData(columns: [.text("1"), .unchangedToast, .unchangedToast, .unchangedToast])
        let old = TupleData(columns: [.text("1"), .null, .binary([1])])
        #expect(
            new.fillingUnchangedToast(from: old).columns == [
                .text("1"), .unchangedToast, .binary([1]), .unchangedToast,
            ])
        #expect(new.fillingUnchangedToast(from: nil) == new)
        #expect(new.hasUnchangedToast)
        #expect(!old.hasUnchangedToast)
    }

    /// The decoder copies a tuple into a buffer it used before only when no message still holds it.
    @Test func reusedTupleBuffersNeverChangeAKeptMessage() throws {
        func insert(_ values: [String]) -> [UInt8] {
            var builder = MessageBuilder("I").uint32(1).char("N").int16(Int16(values.count))
            for value in values { builder = builder.char("t").int32(Int32(value.utf8.count)).raw(Array(value.utf8)) }
            return builder.bytes
        }
        func update(_ old: [String], _ new: [String]) -> PGOutputMessage {
            let oldTuple = TupleData(columns: old.map { .text(Array($0.utf8)) })
            let newTuple = TupleData(columns: new.map { .text(Array($0.utf8)) })
            return .update(.init(relationOID: 1, oldTuple: .init(kind: .old, tuple: oldTuple), newTuple: newTuple))
        }
        var decoder = PGOutputDecoder()
        var kept: [PGOutputMessage] = []
        var expected: [PGOutputMessage] = []
        for round in 0..<50 {
            let values = (0..<(round % 7)).map { String(repeating: "v\(round)", count: $0 + round % 5) }
            let message = try decoder.decode(insert(values))
            #expect(
                message
                    == .insert(
                        .init(relationOID: 1, newTuple: TupleData(columns: values.map { .text(Array($0.utf8)) }))))
            if round % 3 == 0 {
                kept.append(message)
                expected.append(message)
            }
            let updated = update(values, values.reversed())
            let decodedUpdate = try decoder.decode(PGOutputEncoder().encode(updated))
            #expect(decodedUpdate == updated)
            if round % 4 == 0 {
                kept.append(decodedUpdate)
                expected.append(updated)
            }
        }
        #expect(kept == expected)
        // Copies of the decoder share nothing they would write to.
        var copy = decoder
        let first = try decoder.decode(insert(["a", "b"]))
        let second = try copy.decode(insert(["c", "d"]))
        #expect(first == .insert(.init(relationOID: 1, newTuple: TupleData(columns: [.text([97]), .text([98])]))))
        #expect(second == .insert(.init(relationOID: 1, newTuple: TupleData(columns: [.text([99]), .text([100])]))))
    }
}
