import PGOutput
import Testing

/// Builds pgoutput message bytes field by field, big-endian, for tests.
///
/// ```swift
/// let bytes = MessageBuilder("B").int64(0x10).int64(20).int32(750).bytes
/// ```
struct MessageBuilder {
    private(set) var bytes: [UInt8]

    init(_ tag: Unicode.Scalar) { bytes = [UInt8(ascii: tag)] }
    init(bytes: [UInt8] = []) { self.bytes = bytes }

    private func appending(_ more: some Sequence<UInt8>) -> Self {
        var copy = self
        copy.bytes.append(contentsOf: more)
        return copy
    }

    private func integer<T: FixedWidthInteger>(_ value: T) -> Self {
        withUnsafeBytes(of: value.bigEndian) { appending($0) }
    }

    func int8(_ value: UInt8) -> Self { integer(value) }
    func char(_ value: Unicode.Scalar) -> Self { integer(UInt8(ascii: value)) }
    func int16(_ value: Int16) -> Self { integer(value) }
    func int32(_ value: Int32) -> Self { integer(value) }
    func uint32(_ value: UInt32) -> Self { integer(value) }
    func int64(_ value: Int64) -> Self { integer(value) }
    func lsn(_ value: LSN) -> Self { integer(value.rawValue) }
    func time(_ value: PostgresTimestamp) -> Self { integer(value.rawValue) }
    /// A NUL-terminated string.
    func string(_ value: String) -> Self { appending(Array(value.utf8) + [0]) }
    func raw(_ value: [UInt8]) -> Self { appending(value) }

    /// A TupleData with the given columns.
    func tuple(_ columns: [TupleData.Column]) -> Self {
        var builder = int16(Int16(columns.count))
        for column in columns {
            switch column {
            case .null: builder = builder.char("n")
            case .unchangedToast: builder = builder.char("u")
            case .text(let value): builder = builder.char("t").int32(Int32(value.count)).raw(value)
            case .binary(let value): builder = builder.char("b").int32(Int32(value.count)).raw(value)
            }
        }
        return builder
    }
}

/// Sample field values shared by the message tests.
enum Sample {
    static let lsn: LSN = 0x16_B374_D848
    static let lsn2: LSN = 0x16_B374_D900
    static let time = PostgresTimestamp(rawValue: 767_916_245_678_901)
    static let time2 = PostgresTimestamp(rawValue: 767_916_245_999_999)
    static let xid: UInt32 = 750
    static let subxid: UInt32 = 751
}

extension TupleData.Column {
    static func text(_ string: String) -> Self { .text(Array(string.utf8)) }
}

/// Decodes `bytes`, checks the result equals `expected`, and checks the encoder writes `bytes`
/// back exactly.
func expectRoundTrip(
    _ bytes: [UInt8], decodesTo expected: PGOutputMessage, decoder: PGOutputDecoder = PGOutputDecoder(),
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    var decoder = decoder
    let decoded = try decoder.decode(bytes)
    #expect(decoded == expected, sourceLocation: sourceLocation)
    #expect(PGOutputEncoder().encode(expected) == bytes, sourceLocation: sourceLocation)
}

/// Expects decoding `bytes` to throw exactly `kind` at `offset`, naming the message's first byte.
func expectDecodingError(
    _ bytes: [UInt8], _ kind: PGOutputDecodingError.Kind, offset: Int, decoder: PGOutputDecoder = PGOutputDecoder(),
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var decoder = decoder
    #expect(
        throws: PGOutputDecodingError(kind: kind, messageType: bytes.first, offset: offset),
        sourceLocation: sourceLocation
    ) {
        try decoder.decode(bytes)
    }
}
