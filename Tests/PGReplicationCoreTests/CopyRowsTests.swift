import PGOutput
import Testing

@testable import PGReplicationCore

/// COPY's rows as pgoutput's tuples, with no server: text escapes undone, NULLs, the binary
/// format's header and trailer, and damaged input refused.
@Suite struct CopyRowsTests {
    private func textTuple(_ line: String, columns: Int) throws -> [TupleData.Column] {
        var wire: [UInt8] = []
        try Array(line.utf8).withUnsafeBytes { try CopyRows.appendTextRow($0, columns: columns, to: &wire) }
        return try #require(wire.withUnsafeBytes { TupleData(checkingWire: $0) }).columns
    }

    @Test func textRowsUndoTheEscapes() throws {
        let columns = try textTuple("1\t\\N\ta\\tb\\nc\\\\d\t\\101\\x42\\q\t\n", columns: 5)
        #expect(
            columns == [
                .text(Array("1".utf8)), .null, .text(Array("a\tb\nc\\d".utf8)), .text(Array("ABq".utf8)),
                .text([]),
            ])
        #expect(try textTuple("\n", columns: 0) == [])
        #expect(try textTuple("\\N\n", columns: 1) == [.null])
    }

    @Test func textRowsWithOtherFieldCountsAreRefused() {
        #expect(throws: PGError.self) { try textTuple("1\t2\n", columns: 3) }
        #expect(throws: PGError.self) { try textTuple("1\t2\t3\n", columns: 2) }
        #expect(throws: PGError.self) { try textTuple("1\n", columns: 0) }
    }

    private func binaryMessage(header: Bool, fields: [[UInt8]?]) -> [UInt8] {
        var bytes: [UInt8] = header ? CopyRows.signature + [0, 0, 0, 0, 0, 0, 0, 0] : []
        bytes += [UInt8(fields.count >> 8), UInt8(fields.count & 0xFF)]
        for field in fields {
            guard let field else {
                bytes += [0xFF, 0xFF, 0xFF, 0xFF]
                continue
            }
            let count = UInt32(field.count)
            bytes += [UInt8(count >> 24), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
            bytes += field
        }
        return bytes
    }

    @Test func binaryRowsKeepEachColumnsFormat() throws {
        var reader = CopyRows.Binary(binaryColumns: [true, false])
        var wire: [UInt8] = []
        let first = binaryMessage(header: true, fields: [[0, 0, 0, 7], Array("x".utf8)])
        #expect(try first.withUnsafeBytes { try reader.appendRow($0, to: &wire) })
        #expect(
            try #require(wire.withUnsafeBytes { TupleData(checkingWire: $0) }).columns == [
                .binary([0, 0, 0, 7]), .text(Array("x".utf8)),
            ])
        wire = []
        #expect(
            try binaryMessage(header: false, fields: [nil, nil]).withUnsafeBytes { try reader.appendRow($0, to: &wire) }
        )
        #expect(try #require(wire.withUnsafeBytes { TupleData(checkingWire: $0) }).columns == [.null, .null])
        wire = []
        #expect(try [UInt8]([0xFF, 0xFF]).withUnsafeBytes { try reader.appendRow($0, to: &wire) } == false)
        #expect(wire.isEmpty)
        #expect(throws: PGError.self) {
            try self.binaryMessage(header: false, fields: [nil, nil]).withUnsafeBytes {
                try reader.appendRow($0, to: &wire)
            }
        }
    }

    @Test func damagedBinaryRowsAreRefusedNeverTrapped() throws {
        let good = binaryMessage(header: true, fields: [[1, 2, 3], Array("text".utf8)])
        var refused = 0
        for cut in 0..<good.count {
            var reader = CopyRows.Binary(binaryColumns: [true, false])
            var wire: [UInt8] = []
            do {
                _ = try Array(good.prefix(cut)).withUnsafeBytes { try reader.appendRow($0, to: &wire) }
            } catch {
                refused += 1
            }
        }
        #expect(refused == good.count, "every cut-short message is refused")
        // A damaged byte anywhere: refused, or read as a well-formed tuple of two columns.
        for offset in good.indices {
            var damaged = good
            damaged[offset] ^= 0xFF
            var reader = CopyRows.Binary(binaryColumns: [true, false])
            var wire: [UInt8] = []
            do {
                if try damaged.withUnsafeBytes({ try reader.appendRow($0, to: &wire) }) {
                    #expect(wire.withUnsafeBytes { TupleData(checkingWire: $0) }?.columnCount == 2)
                }
            } catch {
                #expect((error as? PGError)?.message.contains("unexpected COPY data") == true)
            }
        }
    }

    /// A backfill's rows carry their key's text after the row's columns: the reader takes it off
    /// and makes the row of the rest, in text and in binary format.
    @Test func extraColumnsAreTakenOffTheRow() throws {
        let columns = [
            RelationColumn(flags: 1, name: "id", typeOID: 23, typeModifier: -1),
            RelationColumn(flags: 0, name: "v", typeOID: 25, typeModifier: -1),
        ]
        var text = CopyRowReader(
            columns: columns, extra: 2, binaryFormats: nil, keepTuples: true, decodeValues: true)
        let line = Array("7\tseven\t7\t\\N\n".utf8)
        let (row, extra) = try #require(try line.withUnsafeBytes { try text.row($0) })
        #expect(row.values == [.int32(7), .text("seven")])
        #expect(row.tuple?.columns == [.text(Array("7".utf8)), .text(Array("seven".utf8))])
        #expect(extra == ["7", nil])

        var binary = CopyRowReader(
            columns: columns, extra: 1, binaryFormats: [true, false, false], keepTuples: false, decodeValues: true)
        let message = binaryMessage(header: true, fields: [[0, 0, 0, 7], Array("seven".utf8), Array("7".utf8)])
        let (binaryRow, binaryExtra) = try #require(try message.withUnsafeBytes { try binary.row($0) })
        #expect(binaryRow.values == [.int32(7), .text("seven")])
        #expect(binaryExtra == ["7"])
    }
}
