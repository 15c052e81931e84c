import Foundation
import PGOutput

/// The golden capture in `Fixtures/types`: pgoutput Relation and Insert messages (text and binary
/// tuples) and the SELECT output of the same rows.
///
/// TEST-ONLY: `MiniPGOutputParser` below reads just enough of proto_version 1 (Relation `R` and
/// Insert `I`) to get at the tuples, because the real structural decoder is written in parallel.
/// Replace it with `PGOutputDecoder` when the branches merge.
struct FixtureCapture {
    struct Row {
        var textTuple: TupleData
        var binaryTuple: TupleData
        /// The SELECT's text output per column, `nil` for NULL.
        var selected: [[UInt8]?]
    }

    var columns: [RelationColumn]
    var rows: [Row]

    static let shared: FixtureCapture? = try? load()

    static func fixtureURL(_ name: String) throws -> URL {
        guard let base = Bundle.module.resourceURL else { throw FixtureError("no resource bundle") }
        return base.appendingPathComponent("Fixtures/types/\(name)")
    }

    static func load() throws -> FixtureCapture {
        let text = try MiniPGOutputParser.parse(hexLines: String(contentsOf: fixtureURL("pgoutput-text.hex"), encoding: .utf8))
        let binary = try MiniPGOutputParser.parse(
            hexLines: String(contentsOf: fixtureURL("pgoutput-binary.hex"), encoding: .utf8))
        let selectLines = try String(contentsOf: fixtureURL("select.txt"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: true)
        guard let columns = text.columns, text.inserts.count == selectLines.count,
            binary.inserts.count == selectLines.count
        else { throw FixtureError("fixture files disagree") }
        var rows: [Row] = []
        for (index, line) in selectLines.enumerated() {
            let selected: [[UInt8]?] = try line.split(separator: ",", omittingEmptySubsequences: false).map {
                $0 == "-" ? nil : try hexBytes($0)
            }
            rows.append(Row(textTuple: text.inserts[index], binaryTuple: binary.inserts[index], selected: selected))
        }
        return FixtureCapture(columns: columns, rows: rows)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func hexBytes(_ hex: some StringProtocol) throws -> [UInt8] {
    let utf8 = Array(hex.utf8)
    guard utf8.count % 2 == 0 else { throw FixtureError("odd hex length") }
    var out: [UInt8] = []
    out.reserveCapacity(utf8.count / 2)
    var index = 0
    while index < utf8.count {
        guard let byte = UInt8(String(decoding: utf8[index..<index + 2], as: UTF8.self), radix: 16) else {
            throw FixtureError("bad hex")
        }
        out.append(byte)
        index += 2
    }
    return out
}

/// TEST-ONLY minimal pgoutput (proto_version 1) reader for Relation and Insert messages.
/// To be replaced by `PGOutputDecoder` at merge.
enum MiniPGOutputParser {
    struct Result {
        var columns: [RelationColumn]?
        var inserts: [TupleData] = []
    }

    static func parse(hexLines: String) throws -> Result {
        var result = Result()
        for line in hexLines.split(separator: "\n") {
            var reader = Reader(bytes: try hexBytes(line))
            switch try reader.byte() {
            case UInt8(ascii: "R"):
                _ = try reader.int32()  // relation OID
                _ = try reader.cString()  // namespace
                _ = try reader.cString()  // relation name
                _ = try reader.byte()  // replica identity
                let count = try reader.int16()
                var columns: [RelationColumn] = []
                for _ in 0..<count {
                    let flags = try reader.byte()
                    let name = try reader.cString()
                    let type = UInt32(bitPattern: try reader.int32())
                    let modifier = try reader.int32()
                    columns.append(RelationColumn(flags: flags, name: name, typeOID: type, typeModifier: modifier))
                }
                result.columns = columns
            case UInt8(ascii: "I"):
                _ = try reader.int32()  // relation OID
                guard try reader.byte() == UInt8(ascii: "N") else { throw FixtureError("expected N") }
                result.inserts.append(try reader.tuple())
            default:
                continue  // Begin, Commit, Type, …
            }
        }
        return result
    }

    struct Reader {
        var bytes: [UInt8]
        var offset = 0

        mutating func byte() throws -> UInt8 {
            guard offset < bytes.count else { throw FixtureError("truncated") }
            offset += 1
            return bytes[offset - 1]
        }

        mutating func int16() throws -> Int16 {
            Int16(bitPattern: UInt16(try byte()) << 8 | UInt16(try byte()))
        }

        mutating func int32() throws -> Int32 {
            var value: UInt32 = 0
            for _ in 0..<4 { value = value << 8 | UInt32(try byte()) }
            return Int32(bitPattern: value)
        }

        mutating func cString() throws -> String {
            guard let end = bytes[offset...].firstIndex(of: 0) else { throw FixtureError("no terminator") }
            defer { offset = end + 1 }
            return String(decoding: bytes[offset..<end], as: UTF8.self)
        }

        mutating func tuple() throws -> TupleData {
            let count = try int16()
            var columns: [TupleData.Column] = []
            for _ in 0..<count {
                switch try byte() {
                case UInt8(ascii: "n"): columns.append(.null)
                case UInt8(ascii: "u"): columns.append(.unchangedToast)
                case let kind:
                    let length = Int(try int32())
                    guard length >= 0, offset + length <= bytes.count else { throw FixtureError("bad length") }
                    let value = Array(bytes[offset..<offset + length])
                    offset += length
                    columns.append(kind == UInt8(ascii: "b") ? .binary(value) : .text(value))
                }
            }
            return TupleData(columns: columns)
        }
    }
}
