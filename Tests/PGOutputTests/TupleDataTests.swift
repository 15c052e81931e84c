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
        #expect(new.fillingUnchangedToast(from: old).columns == [.text("1"), .unchangedToast, .binary([1]), .unchangedToast])
        #expect(new.fillingUnchangedToast(from: nil) == new)
        #expect(new.hasUnchangedToast)
        #expect(!old.hasUnchangedToast)
    }
}
