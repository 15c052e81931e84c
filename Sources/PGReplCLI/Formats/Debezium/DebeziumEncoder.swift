import ArgumentParser
import Foundation
import PGOutput
import PGReplication

/// How `--format debezium` writes `numeric` values: Debezium's `decimal.handling.mode`.
enum DecimalHandling: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// Kafka Connect's `Decimal`: the unscaled value's two's-complement bytes, big-endian, in
    /// base64; a numeric without a declared scale as `{"scale":…,"value":…}`. NaN and the
    /// infinities have no such form: null.
    case precise
    /// A JSON number (NaN and the infinities as the strings Jackson writes).
    case double
    /// The number's text.
    case string
}

/// What `--format debezium` needs besides the values.
struct DebeziumOptions: Sendable {
    /// `source.name`: Debezium's `topic.prefix`.
    var topicPrefix = "pgrepl"
    var decimalHandling = DecimalHandling.precise
    /// `key<TAB>value` lines (`kcat -K'\t'`), with a tombstone (`key<TAB>`) after each delete.
    var keyValue = false
}

/// Change events in the envelope Debezium's PostgreSQL connector writes with the JSON converter
/// and schemas disabled: `before`, `after`, `source`, `op`, `ts_ms`, `transaction`; one line per
/// event.
///
/// Values follow Debezium's default mappings (`time.precision.mode = adaptive`,
/// `binary.handling.mode = bytes`, `interval.handling.mode = numeric`), and
/// `decimal.handling.mode` as ``DecimalHandling`` says. The README's table lists each type's.
final class DebeziumEncoder: ChangeLineEncoder {
    let options: DebeziumOptions
    let catalogFacts: CatalogFacts
    var catalog: CatalogFacts? { catalogFacts }
    /// `source.db`.
    var database: String { catalogFacts.database }

    init(options: DebeziumOptions, catalog: CatalogFacts) {
        self.options = options
        self.catalogFacts = catalog
    }

    /// The wal2json options whose catalog facts the envelope needs: the primary key.
    static var catalogOptions: Wal2JSONOptions {
        var options = Wal2JSONOptions()
        options.includePK = true
        return options
    }
    /// `source.version`.
    static let version = "pgrepl-debezium-2"

    // MARK: - Row changes

    /// `source.ts_ms`: the commit time, or, for a spooled transaction, left for its commit (the
    /// offsets where it goes are collected).
    enum SourceTime {
        case commit(PostgresTimestamp)
        case deferred
        case now
    }

    typealias Position = (xid: UInt32, lsn: LSN, previousCommit: LSN?, time: SourceTime)

    /// Appends the events of one change; returns where the commit time goes in them when `time`
    /// is nil (the transaction's commit is not known yet).
    func change(_ change: PGChange, at place: ChangePosition, into out: inout [UInt8]) throws -> [Int] {
        var points: [Int] = []
        let time = place.commit.map { $0.time ?? PostgresTimestamp(rawValue: 0) }
        let position: Position = (
            place.xid, place.lsn ?? 0, place.previousCommit, time.map { .commit($0) } ?? .deferred
        )
        switch change {
        case .insert(let table, let new):
            try event("c", table, before: nil, after: new, position, points: &points, into: &out)
        case .update(let table, let old, let oldIsKey, let new):
            if let old, oldIsKey {
                // The key changed: Debezium writes a delete of the old key (and its tombstone),
                // then a create of the new row.
                try event("d", table, before: old, after: nil, position, points: &points, into: &out)
                try event("c", table, before: nil, after: new, position, points: &points, into: &out)
            } else {
                try event("u", table, before: old, after: new, position, points: &points, into: &out)
            }
        case .delete(let table, let old, _):
            try event("d", table, before: old, after: nil, position, points: &points, into: &out)
        case .truncate(let tables, _, _):
            for table in tables {
                if options.keyValue { out.append(0x09) }
                envelope(op: "t", before: nil, after: nil, table: table, position, points: &points, into: &out)
            }
        case .message(let message):
            self.message(message, xid: place.xid, time: position.time, points: &points, into: &out)
        }
        return points
    }

    private func event(
        _ op: StaticString, _ table: PGTable, before: PGRow?, after: PGRow?, _ position: Position,
        points: inout [Int], into out: inout [UInt8]
    ) throws {
        let facts = try catalogFacts.facts(for: table)
        let key = after ?? before
        if options.keyValue, let key { self.key(key, facts, into: &out) }
        if options.keyValue { out.append(0x09) }
        envelope(op: op, before: before, after: after, table: table, position, points: &points, into: &out)
        if options.keyValue, op.description == "d", let key {
            // The tombstone: the key with an empty value (`kcat -Z` sends it as null).
            self.key(key, facts, into: &out)
            JSONWriter.append("\t\n", to: &out)
        }
    }

    /// `{"id":1}`: the primary key's columns; empty when the table has none.
    private func key(_ row: PGRow, _ facts: CatalogFacts.Table, into out: inout [UInt8]) {
        guard facts.hasPrimaryKey else { return }
        out.append(0x7B)
        var first = true
        for index in row.columns.indices where index < facts.primaryKey.count && facts.primaryKey[index] {
            if !first { out.append(0x2C) }
            first = false
            JSONWriter.appendString(row.columns[index].name, to: &out)
            out.append(0x3A)
            value(row.values[index], row.columns[index], into: &out)
        }
        out.append(0x7D)
    }

    private func envelope(
        op: StaticString, before: PGRow?, after: PGRow?, table: PGTable, _ position: Position, points: inout [Int],
        into out: inout [UInt8]
    ) {
        JSONWriter.append("{\"before\":", to: &out)
        row(before, into: &out)
        JSONWriter.append(",\"after\":", to: &out)
        row(after, into: &out)
        JSONWriter.append(",\"source\":", to: &out)
        source(
            table: table, snapshot: "false", time: position.time, xid: position.xid, lsn: position.lsn,
            previousCommit: position.previousCommit, points: &points, into: &out)
        JSONWriter.append(",\"op\":\"", to: &out)
        JSONWriter.append(op, to: &out)
        JSONWriter.append("\",\"ts_ms\":", to: &out)
        JSONWriter.appendNumber(Self.nowMilliseconds, to: &out)
        JSONWriter.append(",\"transaction\":null}\n", to: &out)
    }

    private func source(
        table: PGTable?, snapshot: StaticString, time: SourceTime, xid: UInt32?, lsn: LSN?, previousCommit: LSN?,
        points: inout [Int], into out: inout [UInt8]
    ) {
        JSONWriter.append("{\"version\":\"", to: &out)
        out += Array(Self.version.utf8)
        JSONWriter.append("\",\"connector\":\"postgresql\",\"name\":", to: &out)
        JSONWriter.appendString(options.topicPrefix, to: &out)
        JSONWriter.append(",\"ts_ms\":", to: &out)
        switch time {
        case .commit(let time): JSONWriter.appendNumber(Self.milliseconds(time), to: &out)
        case .deferred: points.append(out.count)
        case .now: JSONWriter.appendNumber(Self.nowMilliseconds, to: &out)
        }
        JSONWriter.append(",\"snapshot\":\"", to: &out)
        JSONWriter.append(snapshot, to: &out)
        JSONWriter.append("\",\"db\":", to: &out)
        JSONWriter.appendString(database, to: &out)
        JSONWriter.append(",\"sequence\":", to: &out)
        if let lsn {
            JSONWriter.appendString(
                "[\(previousCommit.map { "\"\($0.rawValue)\"" } ?? "null"),\"\(lsn.rawValue)\"]", to: &out)
        } else {
            JSONWriter.append("null", to: &out)
        }
        JSONWriter.append(",\"schema\":", to: &out)
        JSONWriter.appendString(table?.schema ?? "", to: &out)
        JSONWriter.append(",\"table\":", to: &out)
        JSONWriter.appendString(table?.name ?? "", to: &out)
        JSONWriter.append(",\"txId\":", to: &out)
        if let xid { JSONWriter.appendNumber(xid, to: &out) } else { JSONWriter.append("null", to: &out) }
        JSONWriter.append(",\"lsn\":", to: &out)
        if let lsn { JSONWriter.appendNumber(lsn.rawValue, to: &out) } else { JSONWriter.append("null", to: &out) }
        JSONWriter.append(",\"xmin\":null}", to: &out)
    }

    /// `{"column":value,…}` or `null`.
    private func row(_ row: PGRow?, into out: inout [UInt8]) {
        guard let row else {
            JSONWriter.append("null", to: &out)
            return
        }
        out.append(0x7B)
        for index in row.columns.indices {
            if index > 0 { out.append(0x2C) }
            JSONWriter.appendString(row.columns[index].name, to: &out)
            out.append(0x3A)
            value(row.values[index], row.columns[index], into: &out)
        }
        out.append(0x7D)
    }

    // MARK: - Messages and snapshot rows

    /// A non-transactional message's event.
    func message(_ message: PGLogicalDecodingMessage, into out: inout [UInt8]) -> Bool {
        var points: [Int] = []
        self.message(message, xid: nil, time: .now, points: &points, into: &out)
        return true
    }

    /// What a spooled event gets at its insertion points: `source.ts_ms`, the commit time.
    func insertion(for transaction: PGTransaction) -> [UInt8] {
        Array(String(Self.milliseconds(transaction.commitTime)).utf8)
    }

    /// `{"op":"m","ts_ms":…,"source":{…},"message":{"prefix":…,"content":base64}}`.
    func message(
        _ message: PGLogicalDecodingMessage, xid: UInt32?, time: SourceTime, points: inout [Int],
        into out: inout [UInt8]
    ) {
        if options.keyValue { out.append(0x09) }
        JSONWriter.append("{\"op\":\"m\",\"ts_ms\":", to: &out)
        JSONWriter.appendNumber(Self.nowMilliseconds, to: &out)
        JSONWriter.append(",\"source\":", to: &out)
        source(
            table: nil, snapshot: "false", time: message.isTransactional ? time : .now,
            xid: message.isTransactional ? xid : nil, lsn: message.lsn, previousCommit: nil, points: &points, into: &out
        )
        JSONWriter.append(",\"message\":{\"prefix\":", to: &out)
        JSONWriter.appendString(message.prefix, to: &out)
        JSONWriter.append(",\"content\":", to: &out)
        JSONWriter.appendString(Data(message.content).base64EncodedString(), to: &out)
        JSONWriter.append("}}\n", to: &out)
    }

    /// A snapshot row (`op: "r"`): `snapshot` is `true` for the initial snapshot, `incremental`
    /// for a backfill chunk.
    func snapshotRow(_ row: PGRow, of batch: PGSnapshotBatch, into out: inout [UInt8]) throws {
        let (table, incremental) = (batch.table, batch.backfill != nil)
        let facts = try catalogFacts.facts(for: table)
        if options.keyValue {
            key(row, facts, into: &out)
            out.append(0x09)
        }
        JSONWriter.append("{\"before\":null,\"after\":", to: &out)
        self.row(row, into: &out)
        JSONWriter.append(",\"source\":", to: &out)
        var points: [Int] = []
        source(
            table: table, snapshot: incremental ? "incremental" : "true", time: .now, xid: nil, lsn: nil,
            previousCommit: nil, points: &points, into: &out)
        JSONWriter.append(",\"op\":\"r\",\"ts_ms\":", to: &out)
        JSONWriter.appendNumber(Self.nowMilliseconds, to: &out)
        JSONWriter.append(",\"transaction\":null}\n", to: &out)
    }

    // MARK: - Values

    /// The placeholder Debezium writes for an unchanged TOASTed value it did not get.
    static let unavailable = "__debezium_unavailable_value"

    /// One value, as Debezium's default mapping for the column's type writes it.
    func value(_ value: PGValue, _ column: RelationColumn, into out: inout [UInt8]) {
        switch value {
        case .null: JSONWriter.append("null", to: &out)
        case .unchangedToast: JSONWriter.appendString(Self.unavailable, to: &out)
        case .bool(let flag): JSONWriter.append(flag ? "true" : "false", to: &out)
        case .int16(let number): JSONWriter.appendNumber(number, to: &out)
        case .int32(let number): JSONWriter.appendNumber(number, to: &out)
        case .int64(let number): JSONWriter.appendNumber(number, to: &out)
        case .oid(let number): JSONWriter.appendNumber(number, to: &out)
        case .float32(let number): float(Double(number), shortest: number.description, into: &out)
        case .float64(let number): float(number, shortest: number.description, into: &out)
        case .numeric(let number): numeric(number, typeModifier: column.typeModifier, into: &out)
        case .text(let text), .json(let text), .jsonb(let text): JSONWriter.appendString(text, to: &out)
        case .char: JSONWriter.appendString(value.description, to: &out)
        case .bytea(let bytes): JSONWriter.appendString(Data(bytes).base64EncodedString(), to: &out)
        case .uuid: JSONWriter.appendString(value.description, to: &out)
        case .date(let date):
            // io.debezium.time.Date: days since 1970-01-01.
            JSONWriter.appendNumber(Int64(date.rawValue) + 10_957, to: &out)
        case .time(let time):
            // Adaptive: io.debezium.time.Time (ms) up to precision 3, else MicroTime (µs).
            let micros = time.microsecondsSinceMidnight
            JSONWriter.appendNumber(Self.precision(column) <= 3 ? micros / 1000 : micros, to: &out)
        case .timetz(let time):
            // io.debezium.time.ZonedTime: the time in UTC, ISO-8601.
            var micros = time.time.microsecondsSinceMidnight &- Int64(time.utcOffsetSeconds) &* 1_000_000
            let day: Int64 = 86_400_000_000
            micros = ((micros % day) + day) % day
            JSONWriter.appendString(Self.isoClock(micros) + "Z", to: &out)
        case .timestamp(let time):
            // Adaptive: io.debezium.time.Timestamp (ms) up to precision 3, else MicroTimestamp (µs).
            let micros = Self.unixMicroseconds(time)
            JSONWriter.appendNumber(Self.precision(column) <= 3 ? Self.floorDivide(micros, 1000) : micros, to: &out)
        case .timestamptz(let time):
            // io.debezium.time.ZonedTimestamp: ISO-8601 in UTC.
            JSONWriter.appendString(Self.isoTimestamp(time), to: &out)
        case .interval(let interval):
            JSONWriter.appendNumber(Self.microDuration(interval), to: &out)
        case .inet, .cidr: JSONWriter.appendString(value.description, to: &out)
        case .array(let array):
            out.append(0x5B)
            let element = RelationColumn(
                flags: 0, name: column.name, typeOID: array.elementType.rawValue, typeModifier: -1)
            for (index, item) in array.elements.enumerated() {
                if index > 0 { out.append(0x2C) }
                self.value(item, element, into: &out)
            }
            out.append(0x5D)
        case .raw(let raw):
            // Enums, domains and other types: their text.
            JSONWriter.appendString(
                raw.format == .text ? String(decoding: raw.bytes, as: UTF8.self) : value.description, to: &out)
        }
    }

    private func float(_ number: Double, shortest: String, into out: inout [UInt8]) {
        if number.isNaN {
            JSONWriter.appendString("NaN", to: &out)
        } else if number.isInfinite {
            JSONWriter.appendString(number > 0 ? "Infinity" : "-Infinity", to: &out)
        } else {
            out += Array(shortest.utf8)
        }
    }

    private func numeric(_ number: PGNumeric, typeModifier: Int32, into out: inout [UInt8]) {
        switch options.decimalHandling {
        case .string:
            JSONWriter.appendString(number.description, to: &out)
        case .double:
            switch number.kind {
            case .finite: out += Array(String(number.doubleValue).utf8)
            case .nan: JSONWriter.appendString("NaN", to: &out)
            case .infinity: JSONWriter.appendString("Infinity", to: &out)
            case .negativeInfinity: JSONWriter.appendString("-Infinity", to: &out)
            }
        case .precise:
            guard number.isFinite else {
                JSONWriter.append("null", to: &out)
                return
            }
            // numeric(p,s): typmod = (p << 16 | s) + 4; the value at the column's scale.
            let declaredScale = typeModifier >= 4 ? Int((typeModifier - 4) & 0xFFFF) : nil
            let scale = declaredScale ?? number.scale
            var digits = number.significandDigits
            if scale > number.scale { digits += Array(repeating: 0, count: scale - number.scale) }
            let bytes = Self.twosComplement(digits: digits, negative: number.isNegative)
            let encoded = Data(bytes).base64EncodedString()
            if declaredScale == nil {
                // io.debezium.data.VariableScaleDecimal.
                JSONWriter.append("{\"scale\":", to: &out)
                JSONWriter.appendNumber(scale, to: &out)
                JSONWriter.append(",\"value\":", to: &out)
                JSONWriter.appendString(encoded, to: &out)
                out.append(0x7D)
            } else {
                JSONWriter.appendString(encoded, to: &out)
            }
        }
    }

    /// The shortest big-endian two's-complement bytes of a decimal integer (Java's
    /// `BigInteger.toByteArray`).
    static func twosComplement(digits: [UInt8], negative: Bool) -> [UInt8] {
        // Base-256 magnitude, least significant first.
        var magnitude: [UInt8] = []
        for digit in digits {
            var carry = UInt32(digit)
            for index in magnitude.indices {
                let value = UInt32(magnitude[index]) * 10 + carry
                magnitude[index] = UInt8(value & 0xFF)
                carry = value >> 8
            }
            while carry > 0 {
                magnitude.append(UInt8(carry & 0xFF))
                carry >>= 8
            }
        }
        if magnitude.isEmpty { return [0] }
        var bytes = magnitude
        if negative {
            // Invert and add one.
            var carry: UInt16 = 1
            for index in bytes.indices {
                let value = UInt16(~bytes[index]) + carry
                bytes[index] = UInt8(value & 0xFF)
                carry = value >> 8
            }
            if bytes.last.map({ $0 & 0x80 == 0 }) ?? true { bytes.append(0xFF) }
            while bytes.count > 1, bytes[bytes.count - 1] == 0xFF, bytes[bytes.count - 2] & 0x80 != 0 {
                bytes.removeLast()
            }
        } else if bytes.last.map({ $0 & 0x80 != 0 }) ?? false {
            bytes.append(0)
        }
        return bytes.reversed()
    }

    static func precision(_ column: RelationColumn) -> Int {
        column.typeModifier >= 0 ? Int(column.typeModifier) : 6
    }

    static func unixMicroseconds(_ time: PostgresTimestamp) -> Int64 {
        time.rawValue &+ PostgresTimestamp.postgresEpochOffsetSeconds &* 1_000_000
    }

    static func milliseconds(_ time: PostgresTimestamp) -> Int64 { floorDivide(unixMicroseconds(time), 1000) }

    static var nowMilliseconds: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Rounded towards minus infinity; defined for every value and a positive divisor.
    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? quotient - 1 : quotient
    }

    /// io.debezium.time.MicroDuration: the interval in microseconds, a month as 30.4375 days,
    /// computed in floating point and converted as Java's `(long)` cast does: towards zero, and
    /// saturated at the ends of the range (`'178000000 years'` is 9223372036854775807).
    static func microDuration(_ interval: PGInterval) -> Int64 {
        let micros =
            Double(interval.months) * 30.4375 * 86_400_000_000 + Double(interval.days) * 86_400_000_000
            + Double(interval.microseconds)
        return javaLong(micros)
    }

    /// Java's `(long)` of a double: NaN is 0, values past the range are its ends, others are cut
    /// towards zero.
    static func javaLong(_ value: Double) -> Int64 {
        if value.isNaN { return 0 }
        // 2^63 is the first double past Int64.max.
        if value >= 9_223_372_036_854_775_808.0 { return .max }
        if value <= -9_223_372_036_854_775_808.0 { return .min }
        return Int64(value)
    }

    /// `HH:MM:SS` and the fraction without trailing zeros.
    static func isoClock(_ micros: Int64) -> String {
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = "\(two(micros / 3_600_000_000)):\(two(micros / 60_000_000 % 60)):\(two(micros / 1_000_000 % 60))"
        let fraction = micros % 1_000_000
        if fraction > 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 6 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text
    }

    /// `2024-02-29T13:14:15.5Z`.
    static func isoTimestamp(_ time: PostgresTimestamp) -> String {
        if time == .infinity { return "infinity" }
        if time == .negativeInfinity { return "-infinity" }
        let day: Int64 = 86_400_000_000
        let days = floorDivide(time.rawValue, day)
        let clock = time.rawValue - days * day
        let date = PGDate(rawValue: Int32(truncatingIfNeeded: days))
        guard let (year, month, dayOfMonth) = date.components else { return time.postgresText(utcOffset: 0) }
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(abs(value))
            return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(dayOfMonth, 2))T\(isoClock(clock))Z"
    }
}
