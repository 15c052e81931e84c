import Foundation
import PGOutput

/// The golden capture in `Fixtures/types`: pgoutput Relation and Insert messages (text and binary
/// tuples), decoded with ``PGOutputDecoder``, and the SELECT output of the same rows.
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
        let text = try decodeCapture(String(contentsOf: fixtureURL("pgoutput-text.hex"), encoding: .utf8))
        let binary = try decodeCapture(String(contentsOf: fixtureURL("pgoutput-binary.hex"), encoding: .utf8))
        let selectLines = try String(contentsOf: fixtureURL("select.txt"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: true)
        guard let columns = text.columns, text.inserts.count == selectLines.count,
            binary.inserts.count == selectLines.count
        else { throw FixtureError("fixture files disagree") }
        var rows: [Row] = []
        for (index, line) in selectLines.enumerated() {
            let selected: [[UInt8]?] = line.split(separator: ",", omittingEmptySubsequences: false).map {
                $0 == "-" ? nil : parseHexLines(Array($0.utf8)).first ?? []
            }
            rows.append(Row(textTuple: text.inserts[index], binaryTuple: binary.inserts[index], selected: selected))
        }
        return FixtureCapture(columns: columns, rows: rows)
    }

    /// The columns of the (last) Relation message and the new tuple of every Insert, in order.
    static func decodeCapture(_ hexLines: String) throws -> (columns: [RelationColumn]?, inserts: [TupleData]) {
        var decoder = PGOutputDecoder()
        var columns: [RelationColumn]?
        var inserts: [TupleData] = []
        for message in parseHexLines(Array(hexLines.utf8)) {
            switch try decoder.decode(message) {
            case .relation(let relation): columns = relation.columns
            case .insert(let insert): inserts.append(insert.newTuple)
            default: continue  // Begin, Commit, Type, …
            }
        }
        return (columns, inserts)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
