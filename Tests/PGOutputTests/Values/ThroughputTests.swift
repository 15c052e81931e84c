import Foundation
import PGOutput
import Testing

/// A quick throughput measurement, off by default: `PGVALUES_BENCH=1 swift test -c release --filter Throughput`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["PGVALUES_BENCH"] != nil))
struct ThroughputTests {
    static let columns: [RelationColumn] = [
        (PGTypeOID.int8, "id"), (.int4, "qty"), (.text, "name"), (.numeric, "price"), (.timestamptz, "created_at"),
        (.bool, "active"), (.float8, "score"), (.uuid, "ref"),
    ].map { RelationColumn(flags: 0, name: $0.1, typeOID: $0.0.rawValue, typeModifier: -1) }

    static let textTuple = TupleData(
        columns: [
            "123456789", "42", "widget deluxe", "1234.56", "2024-02-29 13:14:15.123456+05:30", "t", "0.125",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ].map { .text(Array($0.utf8)) })

    static let binaryTuple = TupleData(columns: [
        .binary(be(Int64(123_456_789))), .binary(be(Int32(42))), .binary(Array("widget deluxe".utf8)),
        .binary(numericBytes(weight: 0, sign: 0, scale: 2, digits: [1234, 5600])),
        .binary(be(Int64(762_000_000_000_000))),
        .binary([1]), .binary(be((0.125).bitPattern)), .binary([UInt8](repeating: 0xA0, count: 16)),
    ])

    struct Item: Decodable {
        var id: Int64
        var qty: Int
        var name: String
        var price: Decimal
        var createdAt: Date
        var active: Bool
        var score: Double
        var ref: UUID
    }

    func measure(_ label: String, iterations: Int = 200_000, _ body: () throws -> Void) rethrows {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<iterations { try body() }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("THROUGHPUT \(label): \(Int(Double(iterations) / seconds)) rows/s")
    }

    @Test func eightColumnRows() throws {
        var sink = 0
        try measure("PGRow text") { sink &+= try PGRow(columns: Self.columns, tuple: Self.textTuple).count }
        try measure("PGRow binary") { sink &+= try PGRow(columns: Self.columns, tuple: Self.binaryTuple).count }
        try measure("PGRow binary + 8 typed subscripts") {
            let row = try PGRow(columns: Self.columns, tuple: Self.binaryTuple)
            sink &+= Int(try row["id", as: Int64.self]) &+ (try row["qty", as: Int.self])
            sink &+= (try row["name", as: String.self]).utf8.count
            sink &+= (try row["price", as: Decimal.self]).isZero ? 0 : 1
            sink &+= (try row["created_at", as: Date.self]).timeIntervalSince1970 > 0 ? 1 : 0
            sink &+= (try row["active", as: Bool.self]) ? 1 : 0
            sink &+= (try row["score", as: Double.self]) > 0 ? 1 : 0
            sink &+= (try row["ref", as: UUID.self]).uuid.0 == 0 ? 0 : 1
        }
        try measure("PGRow binary + Codable decode", iterations: 100_000) {
            let row = try PGRow(columns: Self.columns, tuple: Self.binaryTuple)
            sink &+= Int(try row.decode(Item.self, keyDecodingStrategy: .convertFromSnakeCase).id)
        }
        #expect(sink != 0)
    }
}
