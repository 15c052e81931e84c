import PGOutput
import Testing

/// Every value captured from PostgreSQL 15 decodes from the binary tuple to the value the text
/// parser reads from the text tuple (two decoders that share no code), and renders back to the
/// text a plain SELECT printed for the same row (the server as the oracle).
@Suite struct GoldenFixtureTests {
    // `shared` is nil only when the capture cannot be loaded, which `fixturesLoad` reports.
    static var rowIndices: [Int] { Array(0..<(FixtureCapture.shared?.rows.count ?? 0)) }

    @Test func fixturesLoad() throws {
        let capture = try FixtureCapture.load()
        #expect(capture.rows.count == 9)
        #expect(capture.columns.count > 50)
    }

    @Test(arguments: rowIndices)
    func textAndBinaryTuplesMatchSelect(row index: Int) throws {
        let capture = try #require(FixtureCapture.shared)
        let row = capture.rows[index]
        for (position, column) in capture.columns.enumerated() {
            let type = PGTypeOID(column.typeOID)
            let fromText = try PGValue(column: row.textTuple.columns[position], typeOID: column.typeOID)
            let fromBinary = try PGValue(column: row.binaryTuple.columns[position], typeOID: column.typeOID)
            let context = "row \(index + 1) column \(column.name)"
            // The capture itself: pgoutput's text tuple is the type's output function, as SELECT's.
            let textBytes: [UInt8]? =
                switch row.textTuple.columns[position] {
                case .text(let bytes): bytes
                case .null: nil
                default: [0xFF]
                }
            #expect(textBytes == row.selected[position], "\(context): the text tuple is not SELECT's text")
            // Two decoders that share nothing (the text parser and the binary reader) agree.
            if case .raw(let raw) = fromBinary {
                // Enums (and enum arrays) have run-time OIDs: compare the label for plain enums.
                if column.name == "c_mood", case .raw(let text) = fromText {
                    #expect(raw.string == text.string, "\(context): enum label")
                }
            } else {
                #expect(fromBinary == fromText, "\(context): binary tuple \(fromBinary) vs text \(fromText)")
            }
            let selected = fromText
            // The rendering matches PostgreSQL's text byte for byte, except floats and timestamptz
            // (rendered in UTC).
            if let text = row.selected[position], !Self.renderingDiffers(type) {
                #expect(selected.description == String(decoding: text, as: UTF8.self), "\(context): rendering")
            }
        }
    }

    static func renderingDiffers(_ type: PGTypeOID) -> Bool {
        [.float4, .float8, .float4Array, .float8Array, .timestamptz, .timestamptzArray, .timetzArray].contains(type)
    }
}
