import Foundation
import PGOutput
import Testing

@Suite struct PGRowTests {
    static let columns = [
        RelationColumn(flags: 1, name: "id", typeOID: PGTypeOID.int8.rawValue, typeModifier: -1),
        RelationColumn(flags: 0, name: "qty", typeOID: PGTypeOID.int4.rawValue, typeModifier: -1),
        RelationColumn(flags: 0, name: "note", typeOID: PGTypeOID.text.rawValue, typeModifier: -1),
        RelationColumn(flags: 0, name: "price", typeOID: PGTypeOID.numeric.rawValue, typeModifier: -1),
        RelationColumn(flags: 0, name: "tags", typeOID: PGTypeOID.textArray.rawValue, typeModifier: -1),
        RelationColumn(flags: 0, name: "mood", typeOID: 70_000, typeModifier: -1),
        RelationColumn(flags: 0, name: "created_at", typeOID: PGTypeOID.timestamptz.rawValue, typeModifier: -1),
        RelationColumn(flags: 0, name: "order_id", typeOID: PGTypeOID.uuid.rawValue, typeModifier: -1),
    ]

    static func row(qty: TupleData.Column = .text(Array("7".utf8)), note: TupleData.Column = .null) throws -> PGRow {
        try PGRow(
            columns: columns,
            tuple: TupleData(columns: [
                .binary(be(Int64(1 << 40))), qty, note, .text(Array("12.50".utf8)), .text(Array("{a,\"b c\"}".utf8)),
                .text(Array("happy".utf8)), .text(Array("2024-01-01 00:00:00+00".utf8)),
                .text(Array("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".utf8)),
            ]))
    }

    @Test func accessByNameAndPosition() throws {
        let row = try Self.row()
        #expect(row.count == 8)
        #expect(row.columnNames.first == "id")
        #expect(row["qty"] == .int32(7))
        #expect(row["missing"] == nil)
        #expect(row[0] == .int64(1 << 40))
        #expect(row[99] == nil)
        #expect(try row["qty", as: Int.self] == 7)
        #expect(try row["note", as: String?.self] == nil)
        #expect(try row["tags", as: [String].self] == ["a", "b c"])
        #expect(try row["mood", as: String.self] == "happy")
        #expect(try row["price", as: Decimal.self] == Decimal(string: "12.5"))
        #expect(try row[0, as: Int64.self] == 1 << 40)
    }

    @Test func conversionErrorsAreThrown() throws {
        let row = try Self.row()
        let outOfRange = try #require(throws: PGValueConversionError.self) { try row["id", as: Int32.self] }
        #expect(outOfRange.column == "id")
        #expect(throws: PGValueConversionError.self) { try row["note", as: String.self] }
        #expect(throws: PGValueConversionError.self) { try row["nope", as: Int.self] }
        #expect(throws: PGValueConversionError.self) { try row["qty", as: String.self] }
        #expect(throws: PGValueConversionError.self) { try row[42, as: Int.self] }
        let toast = try Self.row(note: .unchangedToast)
        #expect(throws: PGValueConversionError.self) { try toast["note", as: String?.self] }
    }

    @Test func malformedValueNamesTheColumn() throws {
        let error = try #require(throws: PGValueDecodingError.self) { try Self.row(qty: .text(Array("7x".utf8))) }
        #expect(error.column == "qty")
        #expect(throws: PGValueDecodingError.self) {
            try PGRow(columns: Self.columns, tuple: TupleData(columns: [.null]))
        }
    }

    enum Mood: String, Decodable { case happy, sad }

    struct Order: Decodable, Equatable {
        var id: Int64
        var qty: Int
        var note: String?
        var price: Decimal
        var tags: [String]
        var mood: Mood
        // swift-format-ignore: AlwaysUseLowerCamelCase
        // The column is named so: Codable keys are the column names.
        var created_at: Date
        var extra: Int??
    }

    @Test func decodesCodableStructs() throws {
        let order = try Self.row().decode(Order.self)
        #expect(
            order
                == Order(
                    id: 1 << 40, qty: 7, note: nil, price: Decimal(string: "12.5") ?? 0, tags: ["a", "b c"],
                    mood: .happy, created_at: Date(timeIntervalSince1970: 1_704_067_200), extra: nil))
    }

    struct SnakeOrder: Decodable {
        var orderId: UUID
        var createdAt: PostgresTimestamp
    }

    @Test func snakeCaseKeys() throws {
        let order = try Self.row().decode(SnakeOrder.self, keyDecodingStrategy: .convertFromSnakeCase)
        #expect(order.orderId.uuidString == "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")
        #expect(order.createdAt.rawValue == 757_382_400_000_000)
    }

    struct Wrong: Decodable { var qty: String }
    struct Missing: Decodable { var nope: Int }
    struct NullForRequired: Decodable { var note: String }

    @Test func decodingErrors() throws {
        let row = try Self.row()
        #expect(throws: DecodingError.self) { try row.decode(Wrong.self) }
        #expect(throws: DecodingError.self) { try row.decode(Missing.self) }
        #expect(throws: DecodingError.self) { try row.decode(NullForRequired.self) }
    }
}
