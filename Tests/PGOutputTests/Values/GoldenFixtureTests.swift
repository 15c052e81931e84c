import PGOutput
import Testing

/// Every value captured from PostgreSQL 15 decodes, from the text tuple and from the binary tuple,
/// to the value that a plain SELECT printed for the same row.
@Suite struct GoldenFixtureTests {
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
            let selected =
                try row.selected[position].map { try PGValue(column: .text($0), typeOID: column.typeOID) } ?? .null
            let context = "row \(index + 1) column \(column.name)"
            #expect(fromText == selected, "\(context): text tuple")
            if case .raw(let raw) = fromBinary {
                // Enums (and enum arrays) have run-time OIDs: compare the label for plain enums.
                if column.name == "c_mood", case .raw(let text) = selected {
                    #expect(raw.string == text.string, "\(context): enum label")
                }
            } else {
                #expect(fromBinary == selected, "\(context): binary tuple \(fromBinary) vs \(selected)")
            }
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
