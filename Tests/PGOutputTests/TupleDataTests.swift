import PGOutput
import Testing

@Suite struct TupleDataTests {
    @Test func invalidColumnKindThrowsAtTheKindByte() {
        let bytes = MessageBuilder("I").uint32(1).char("N").int16(2).char("n").char("x").bytes
        var decoder = PGOutputDecoder()
        #expect(throws: PGOutputDecodingError(
            kind: .invalidTupleKind(UInt8(ascii: "x")), messageType: UInt8(ascii: "I"), offset: 9)) {
            try decoder.decode(bytes)
        }
    }

    @Test func negativeColumnCountThrows() {
        let bytes = MessageBuilder("I").uint32(1).char("N").int16(-3).bytes
        var decoder = PGOutputDecoder()
        #expect(throws: PGOutputDecodingError(kind: .invalidCount(-3), messageType: UInt8(ascii: "I"), offset: 6)) {
            try decoder.decode(bytes)
        }
    }

    @Test func negativeValueLengthThrowsAtTheLengthField() {
        let bytes = MessageBuilder("I").uint32(1).char("N").int16(1).char("t").int32(-1).bytes
        var decoder = PGOutputDecoder()
        #expect(throws: PGOutputDecodingError(kind: .invalidLength(-1), messageType: UInt8(ascii: "I"), offset: 9)) {
            try decoder.decode(bytes)
        }
    }

    @Test func hugeColumnCountWithoutDataThrowsTruncated() {
        let bytes = MessageBuilder("I").uint32(1).char("N").int16(.max).bytes
        var decoder = PGOutputDecoder()
        #expect(throws: PGOutputDecodingError(
            kind: .truncated(expected: 1, actual: 0), messageType: UInt8(ascii: "I"), offset: 8)) {
            try decoder.decode(bytes)
        }
    }

    @Test func fillingUnchangedToastKeepsGapsWithoutOldValues() {
        let new = TupleData(columns: [.text("1"), .unchangedToast, .unchangedToast, .unchangedToast])
        let old = TupleData(columns: [.text("1"), .null, .binary([1])])
        #expect(new.fillingUnchangedToast(from: old).columns == [.text("1"), .unchangedToast, .binary([1]), .unchangedToast])
        #expect(new.fillingUnchangedToast(from: nil) == new)
        #expect(new.hasUnchangedToast)
        #expect(!old.hasUnchangedToast)
    }
}
