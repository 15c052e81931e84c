// libFuzzer harness for the output formats' value code: random typed values, and tuples of them,
// through the Debezium mappings under every option (`DebeziumValues`), the wal2json and text
// renderings (`PGValue.description`, timestamps at any offset, `JSONWriter`), and the change
// lines of the text format (`PGChange.description`). Not a package target: Fuzz/run.sh compiles
// it with the PGOutput and PGReplicationCore modules and the CLI's format sources.
//
// Input layout, repeated per value: byte 0 = flags (bit 0 binary, bits 1-3 the kind: plain,
// hstore, domain), bytes 1-4 = the type OID, bytes 5-8 = the type modifier, byte 9 = the
// value's length n, then n bytes of value. The first input byte picks the Debezium options.
// Property: nothing traps, and every JSON the Debezium and wal2json paths write parses.

import Foundation
import PGOutput
import PGReplication
import PGReplicationCore

@_cdecl("LLVMFuzzerTestOneInput")
public func encoderFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    var input = Array(UnsafeBufferPointer(start: data, count: size))[...]
    let options = DebeziumOptions(input.removeFirst())
    let values = DebeziumValues(options: options)
    var columns: [RelationColumn] = []
    var row: [PGValue] = []
    var tuple: [TupleData.Column] = []
    while input.count >= 10 {
        let flags = input.removeFirst()
        let oid = input.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        input.removeFirst(4)
        let modifier = Int32(bitPattern: input.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        input.removeFirst(4)
        let count = min(Int(input.removeFirst()), input.count)
        let bytes = Array(input.prefix(count))
        input.removeFirst(count)
        let column = RelationColumn(
            flags: flags & 0x10 == 0 ? 0 : 1, name: "c\(columns.count)", typeOID: oid, typeModifier: modifier)
        let wire: TupleData.Column = flags & 1 == 1 ? .binary(bytes) : .text(bytes)
        let kind: DebeziumValues.Kind
        switch (flags >> 1) & 3 {
        case 1: kind = .hstore
        case 2: kind = .domain(ColumnFacts.DomainBase(oid: UInt32(bytes.first ?? 23) | 0x10, modifier: modifier))
        default: kind = .plain
        }
        let value: PGValue
        do {
            value = try PGValue(column: wire, typeOID: oid, typeModifier: modifier)
        } catch {
            // A value the decoder refuses still reaches the encoders as it came.
            value = .raw(PGRawValue(type: PGTypeOID(oid), format: flags & 1 == 1 ? .binary : .text, bytes: bytes))
        }
        encode(value, column, kind, values)
        // The paths that write a value from the server's text without decoding it (the server's
        // text is UTF-8: the client encoding is).
        if String(validating: bytes, as: UTF8.self) != nil {
            bytes.withUnsafeBytes { text in
                for write in [
                    { (out: inout [UInt8]) in values.numericText(text, typeModifier: modifier, into: &out) },
                    { (out: inout [UInt8]) in
                        DebeziumValues.timestamptzText(text, digits: Int(modifier & 7), into: &out)
                    },
                    { (out: inout [UInt8]) in DebeziumValues.textArrayText(text, into: &out) },
                ] {
                    var out: [UInt8] = []
                    if write(&out) {
                        expectJSON(out, "from text \(bytes)")
                    } else if !out.isEmpty {
                        fatalError("wrote on refusal")
                    }
                }
            }
        }
        // A NOT NULL column's value from its default (any text) or its type's zero.
        var required: [UInt8] = []
        values.required(column, kind: kind, default: String(decoding: bytes, as: UTF8.self), into: &required)
        expectJSON(required, "required \(oid)")
        columns.append(column)
        row.append(value)
        tuple.append(wire)
    }
    guard !columns.isEmpty else { return 0 }
    // A tuple: the text format's lines of every kind of change.
    let table = PGTable(oid: 1, schema: "public", name: "t", columns: columns)
    let pgRow = PGRow(columns: columns, values: row)
    for change in [
        PGChange.insert(table: table, new: pgRow), .update(table: table, old: pgRow, oldIsKey: true, new: pgRow),
        .delete(table: table, old: pgRow, oldIsKey: false),
    ] {
        _ = change.description
    }
    _ = TupleData(columns: tuple)
    return 0
}

private func encode(_ value: PGValue, _ column: RelationColumn, _ kind: DebeziumValues.Kind, _ values: DebeziumValues) {
    var out: [UInt8] = []
    values.value(value, column, kind: kind, into: &out)
    expectJSON(out, "Debezium \(column.typeOID) \(value)")
    // wal2json's and the text format's renderings: the value's text (a timestamptz at any zone).
    var text = value.description
    if case .timestamptz(let time) = value {
        text = time.postgresText(utcOffset: Int(column.typeModifier % 86_400))
    }
    var json: [UInt8] = []
    JSONWriter.appendString(text, to: &json)
    expectJSON(json, "wal2json \(column.typeOID) \(value)")
}

private func expectJSON(_ bytes: [UInt8], _ what: @autoclosure () -> String) {
    guard (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil else {
        fatalError("\(what()): not JSON: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
    }
}

extension DebeziumOptions {
    fileprivate init(_ byte: UInt8) {
        self.init()
        decimalHandling = DecimalHandling.allCases[Int(byte & 3) % 3]
        timePrecision = TimePrecision.allCases[Int(byte >> 2 & 3) % 3]
        binaryHandling = BinaryHandling.allCases[Int(byte >> 4 & 3)]
        intervalHandling = IntervalHandling.allCases[Int(byte >> 6 & 1)]
        hstoreHandling = HstoreHandling.allCases[Int(byte >> 7)]
    }
}
