import Foundation
import PGReplication
import Testing

@testable import PGReplCLI

/// `pgrepl stream`'s spool, on the package's one spill mechanism: lines come back in order with
/// the commit's part at their insertion points, rolled-back subtransactions' lines are dropped,
/// and a large line survives whole.
@Suite struct SpoolTests {
    private func replayed(_ spool: Spool, insertion: String) throws -> String {
        var out: [UInt8] = []
        try spool.replay(insertion: Array(insertion.utf8)) { out += $0 }
        return String(decoding: out, as: UTF8.self)
    }

    @Test func linesComeBackWithTheCommitAtTheirPoints() throws {
        let spool = try Spool()
        try spool.append(subxid: 1, insertionPoints: [2, 5], Array("a|b|\n".utf8))
        try spool.append(subxid: 2, insertionPoints: [0], Array("dropped\n".utf8))
        try spool.append(subxid: 1, insertionPoints: [], Array("plain\n".utf8))
        let large = String(repeating: "x", count: 200_000) + "\n"
        try spool.append(subxid: 1, insertionPoints: [1], Array(large.utf8))
        spool.abort(2)
        let text = try replayed(spool, insertion: "T")
        #expect(text == "a|Tb|\nT" + "plain\n" + "x" + "T" + large.dropFirst())
    }

    @Test func withNothingToInsertTheLinesAreAsWritten() throws {
        let spool = try Spool()
        for index in 0..<1000 { try spool.append(subxid: 0, insertionPoints: [0], Array("line \(index)\n".utf8)) }
        let lines = try replayed(spool, insertion: "").split(separator: "\n")
        #expect(lines.count == 1000 && lines.last == "line 999")
    }
}
