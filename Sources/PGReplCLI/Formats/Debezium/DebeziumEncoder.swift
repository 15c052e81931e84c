import Foundation
import PGOutput
import PGReplication

/// Change events in the envelope Debezium's PostgreSQL connector writes with the JSON converter
/// and schemas disabled, one line per event, equal to Debezium 3.6.3's own (the differential test
/// runs both on the same changes).
///
/// Values follow Debezium's mappings under the options ``DebeziumOptions`` names
/// (`decimal.handling.mode`, `time.precision.mode`, `binary.handling.mode`,
/// `interval.handling.mode`, `hstore.handling.mode`); ``DebeziumValues`` writes them. The
/// mapping table in `Docs/pgrepl.md` lists each type's.
final class DebeziumEncoder: ChangeLineEncoder {
    let options: DebeziumOptions
    let catalogFacts: CatalogFacts
    var catalog: CatalogFacts? { catalogFacts }
    let values: DebeziumValues
    /// The fixed parts of every `source` block, escaped once: up to `"ts_ms":`, and
    /// `,"snapshot":"false","db":…,"sequence":"[`.
    private let sourceHead: [UInt8]
    private let sourceStreamed: [UInt8]
    private let sourceDatabase: [UInt8]
    /// The time of writing's fields, made once per millisecond.
    private var nowCache: (millisecond: Int64, bytes: [UInt8]) = (-1, [])
    /// The fields of the last commit time written (``commitTimes(_:)``).
    private var commitCache: (micros: Int64, times: (milliseconds: [UInt8], rest: [UInt8])) = (.min, ([], []))
    /// `,"schema":…,"table":…,"txId":` of the table written last.
    private var sourceTable: (table: PGTable, bytes: [UInt8])?
    /// Debezium's `source.sequence` starts with the end of the last commit it handled (or the
    /// position of the last message outside a transaction); null before the first.
    private var lastCommitEnd: LSN?
    /// The last commit's time: a message outside a transaction keeps it in `source.ts_ms`, as
    /// Debezium does.
    private var lastCommitTime: PostgresTimestamp?
    /// Where the initial snapshot stands: the rows of its current table (Debezium's
    /// `source.snapshot` markers).
    private var snapshotTableOID: UInt32?
    private var snapshotRowsInTable = 0
    /// What the rows of the table written last need, made once per description.
    private var codec: (table: ObjectIdentifier, codec: TableCodec)?

    init(options: DebeziumOptions, catalog: CatalogFacts) {
        self.options = options
        self.catalogFacts = catalog
        values = DebeziumValues(options: options)
        var database: [UInt8] = []
        JSONWriter.appendString(catalog.database, to: &database)
        sourceDatabase = database
        var head: [UInt8] = []
        JSONWriter.append("{\"version\":\"", to: &head)
        JSONWriter.append(Self.version, to: &head)
        JSONWriter.append("\",\"connector\":\"postgresql\",\"name\":", to: &head)
        JSONWriter.appendString(options.topicPrefix, to: &head)
        JSONWriter.append(",\"ts_ms\":", to: &head)
        sourceHead = head
        var streamed: [UInt8] = []
        JSONWriter.append(",\"snapshot\":\"false\",\"db\":", to: &streamed)
        streamed += database
        JSONWriter.append(",\"sequence\":\"[", to: &streamed)
        sourceStreamed = streamed
    }

    /// The wal2json options whose catalog facts the envelope needs: the primary key, NOT NULL
    /// and defaults.
    static var catalogOptions: Wal2JSONOptions {
        var options = Wal2JSONOptions()
        options.includePK = true
        return options
    }
    /// `source.version`.
    static let version: StaticString = "pgrepl-debezium-3"

    // MARK: - Transactions

    func commit(_ transaction: TransactionLine, into out: inout [UInt8]) {
        lastCommitEnd = transaction.endLSN ?? transaction.lsn
        lastCommitTime = transaction.time
    }

    func twoPhase(_ action: TwoPhaseAction, gid: String, _ transaction: TransactionLine, into out: inout [UInt8]) {
        if action == .prepare { commit(transaction, into: &out) }
    }

    // MARK: - Row changes

    /// `source.ts_ms` and what follows from the commit time: known, left for a spooled
    /// transaction's commit, or (a snapshot row) the time of writing.
    enum SourceTime {
        case commit(PostgresTimestamp)
        case deferred
        case now
    }

    struct Position {
        var xid: UInt64?
        var lsn: LSN?
        var time: SourceTime
        /// `source.snapshot` of a snapshot row; nil for `"false"`.
        var snapshot: StaticString?
    }

    /// Appends the events of one change; returns where the commit's part of `source` goes in
    /// them when the commit is not known yet (a spooled transaction).
    func change(_ change: PGChange, at place: ChangePosition, into out: inout [UInt8]) throws -> [Int] {
        var points: [Int] = []
        let time = place.commit.map { $0.time ?? PostgresTimestamp(rawValue: 0) }
        let position = Position(
            xid: UInt64(place.xid), lsn: place.lsn ?? 0, time: time.map { .commit($0) } ?? .deferred)
        switch change {
        case .insert(let table, let new):
            try event("c", table, before: nil, after: new, position, points: &points, into: &out)
        case .update(let table, let old, let oldIsKey, let new):
            let facts = try catalogFacts.facts(for: table)
            if let old, oldIsKey || keyChanged(old, new, table, facts) {
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
            self.message(message, position, points: &points, into: &out)
        }
        return points
    }

    /// Under REPLICA IDENTITY FULL the old row comes whole: whether its key differs from the new
    /// row's.
    private func keyChanged(_ old: PGRow, _ new: PGRow, _ table: PGTable, _ facts: CatalogFacts.Table) -> Bool {
        guard let key = keyColumns(table, facts) else { return false }
        return key.contains { index in
            index < old.count && index < new.count && old[index] != new[index] && new[index] != .unchangedToast
        }
    }

    /// The key's columns: the primary key's, else those of the replica identity index; nil when
    /// there are none (Debezium's key is then null).
    private func keyColumns(_ table: PGTable, _ facts: CatalogFacts.Table) -> [Int]? {
        if facts.hasPrimaryKey {
            return table.columns.indices.filter { $0 < facts.primaryKey.count && facts.primaryKey[$0] }
        }
        if table.replicaIdentity == .index {
            let key = table.columns.indices.filter { table.columns[$0].isKey }
            return key.isEmpty ? nil : key
        }
        return nil
    }

    private func event(
        _ op: StaticString, _ table: PGTable, before: PGRow?, after: PGRow?, _ position: Position,
        points: inout [Int], into out: inout [UInt8]
    ) throws {
        let facts = try catalogFacts.facts(for: table)
        let keyRow = after ?? before
        let key = options.keyValue ? keyColumns(table, facts) : nil
        if let key, let keyRow { self.key(keyRow, key, facts, into: &out) }
        if options.keyValue { out.append(0x09) }
        // A delete's old row under REPLICA IDENTITY DEFAULT or an index has only the key: a NOT
        // NULL column outside it gets its default, or its type's zero, as in Debezium.
        let fillsRequired = before != nil && table.replicaIdentity != .full
        envelope(
            op: op, before: before, after: after, table: table, position, facts: facts,
            fillsRequired: fillsRequired, points: &points, into: &out)
        if options.keyValue, op.description == "d" {
            // The tombstone: the key with an empty value (`kcat -Z` sends it as null).
            if let key, let keyRow { self.key(keyRow, key, facts, into: &out) }
            JSONWriter.append("\t\n", to: &out)
        }
    }

    /// `{"id":1}`: the key's columns.
    private func key(_ row: PGRow, _ key: [Int], _ facts: CatalogFacts.Table, into out: inout [UInt8]) {
        let codec = self.codec(facts)
        out.append(0x7B)
        var first = true
        for index in key where index < row.count && index < codec.names.count {
            if !first { out.append(0x2C) }
            first = false
            out += codec.names[index]
            values.value(row[index] ?? .null, row.columns[index], kind: codec.kinds[index], into: &out)
        }
        out.append(0x7D)
    }

    /// What a table's rows need, per column: the `"name":` bytes, the kind (hstore, domain or
    /// plain), and whether the server's text is the value as it is.
    final class TableCodec {
        enum Text {
            /// The text as a JSON string (text, varchar, uuid, json, inet …).
            case string
            /// The text as a JSON number (the integer types).
            case number
            /// A numeric, written from its text when it is short.
            case numeric
            /// A timestamptz, written from its text when it is in UTC.
            case timestamptz
            /// A text[], written from its text when no element is quoted.
            case textArray
            case boolean
            /// Decoded, then mapped.
            case decode
        }

        let names: [[UInt8]]
        let kinds: [DebeziumValues.Kind]
        let texts: [Text]

        init(_ facts: CatalogFacts.Table) {
            names = facts.columns.map { column in
                var name: [UInt8] = []
                JSONWriter.appendString(column.name, to: &name)
                name.append(0x3A)
                return name
            }
            let kinds: [DebeziumValues.Kind] = facts.columns.indices.map { index in
                if index < facts.domainBases.count, let base = facts.domainBases[index] { return .domain(base) }
                let name = index < facts.plainTypeNames.count ? facts.plainTypeNames[index] : nil
                if let name, name == "hstore" || name.hasSuffix(".hstore") { return .hstore }
                return .plain
            }
            self.kinds = kinds
            texts = facts.columns.indices.map { index in
                guard case .plain = kinds[index] else { return .decode }
                switch PGTypeOID(facts.columns[index].typeOID) {
                // 829 macaddr, 774 macaddr8, 142 xml.
                case .text, .varchar, .bpchar, .uuid, .json, .jsonb, .inet, .cidr, 829, 774, 142: return .string
                case .int2, .int4, .int8, .oid: return .number
                case .bool: return .boolean
                case .numeric: return .numeric
                case .timestamptz: return .timestamptz
                case .textArray, .varcharArray: return .textArray
                default: return .decode
                }
            }
        }
    }

    private func codec(_ facts: CatalogFacts.Table) -> TableCodec {
        if let codec, codec.table == ObjectIdentifier(facts), codec.codec.names.count == facts.columns.count {
            return codec.codec
        }
        let made = TableCodec(facts)
        codec = (ObjectIdentifier(facts), made)
        return made
    }

    private func envelope(
        op: StaticString, before: PGRow?, after: PGRow?, table: PGTable, _ position: Position,
        facts: CatalogFacts.Table? = nil, fillsRequired: Bool = false, points: inout [Int], into out: inout [UInt8]
    ) {
        JSONWriter.append("{\"before\":", to: &out)
        if let facts {
            row(before, facts, fillsRequired: fillsRequired, into: &out)
        } else {
            JSONWriter.append("null", to: &out)
        }
        JSONWriter.append(",\"after\":", to: &out)
        if let facts {
            row(after, facts, fillsRequired: false, filling: table.replicaIdentity == .full ? before : nil, into: &out)
        } else {
            JSONWriter.append("null", to: &out)
        }
        JSONWriter.append(",\"source\":", to: &out)
        source(table: table, position, points: &points, into: &out)
        JSONWriter.append(",\"transaction\":null,\"op\":\"", to: &out)
        JSONWriter.append(op, to: &out)
        JSONWriter.append("\",", to: &out)
        now(into: &out)
        JSONWriter.append("}\n", to: &out)
    }

    /// `"ts_ms":…,"ts_us":…,"ts_ns":…`: the time of writing, read once per millisecond (the
    /// events written within one share it).
    private func now(into out: inout [UInt8]) {
        let nanoseconds = Self.nowNanoseconds
        if nanoseconds / 1_000_000 != nowCache.millisecond {
            var bytes: [UInt8] = []
            JSONWriter.append("\"ts_ms\":", to: &bytes)
            Self.nowValues(nanoseconds, into: &bytes)
            nowCache = (nanoseconds / 1_000_000, bytes)
        }
        out += nowCache.bytes
    }

    /// `ms,"ts_us":µs,"ts_ns":ns` of the time of writing (after `"ts_ms":`).
    private static func nowValues(_ nanoseconds: Int64, into out: inout [UInt8]) {
        JSONWriter.appendNumber(nanoseconds / 1_000_000, to: &out)
        JSONWriter.append(",\"ts_us\":", to: &out)
        JSONWriter.appendNumber(nanoseconds / 1000, to: &out)
        JSONWriter.append(",\"ts_ns\":", to: &out)
        JSONWriter.appendNumber(nanoseconds, to: &out)
    }

    private static var nowNanoseconds: Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// The `source` block. For a spooled transaction the commit's part (`ts_ms`, `ts_us`,
    /// `ts_ns` and the sequence's first element) is one insertion point, so its fields come in
    /// another order than Debezium's; the values are the same.
    private func source(table: PGTable?, _ position: Position, points: inout [Int], into out: inout [UInt8]) {
        out += sourceHead
        // Debezium's order: ts_ms, snapshot, db, sequence, ts_us, ts_ns.
        // `ms` (after `"ts_ms":`) and `,"ts_us":…,"ts_ns":…`; nil for a spooled transaction.
        var times: (milliseconds: [UInt8], rest: [UInt8])?
        switch position.time {
        case .deferred:
            // `ts_ms…,"sequence":"[first,` comes at the commit.
            points.append(out.count)
        case .commit(let time):
            times = commitTimes(time)
        case .now:
            times = Self.times(Self.nowNanoseconds / 1000)
        }
        if let times {
            out += times.milliseconds
            if let snapshot = position.snapshot {
                JSONWriter.append(",\"snapshot\":\"", to: &out)
                JSONWriter.append(snapshot, to: &out)
                JSONWriter.append("\",\"db\":", to: &out)
                out += sourceDatabase
                JSONWriter.append(",\"sequence\":\"[", to: &out)
            } else {
                out += sourceStreamed
            }
            if case .commit = position.time {
                sequenceStart(lastCommitEnd, into: &out)
            } else {
                sequenceStart(nil, into: &out)
            }
        }
        if let lsn = position.lsn {
            JSONWriter.append("\\\"", to: &out)
            JSONWriter.appendNumber(lsn.rawValue, to: &out)
            JSONWriter.append("\\\"]\"", to: &out)
        } else {
            JSONWriter.append("null]\"", to: &out)
        }
        if let times {
            out += times.rest
        } else {
            JSONWriter.append(",\"snapshot\":\"false\",\"db\":", to: &out)
            out += sourceDatabase
        }
        if let table, let known = sourceTable, known.table.oid == table.oid, known.table.name == table.name,
            known.table.schema == table.schema
        {
            out += known.bytes
        } else {
            var bytes: [UInt8] = []
            JSONWriter.append(",\"schema\":", to: &bytes)
            JSONWriter.appendString(table?.schema ?? "", to: &bytes)
            JSONWriter.append(",\"table\":", to: &bytes)
            JSONWriter.appendString(table?.name ?? "", to: &bytes)
            JSONWriter.append(",\"txId\":", to: &bytes)
            out += bytes
            if let table { sourceTable = (table, bytes) }
        }
        if let xid = position.xid {
            JSONWriter.appendNumber(xid, to: &out)
        } else {
            JSONWriter.append("null", to: &out)
        }
        JSONWriter.append(",\"lsn\":", to: &out)
        if let lsn = position.lsn {
            JSONWriter.appendNumber(lsn.rawValue, to: &out)
        } else {
            JSONWriter.append("null", to: &out)
        }
        JSONWriter.append(",\"xmin\":null,\"origin\":null,\"origin_lsn\":null}", to: &out)
    }

    /// `\"123\",` or `null,`: the sequence's first element, inside its string.
    private func sequenceStart(_ lsn: LSN?, into out: inout [UInt8]) {
        if let lsn {
            JSONWriter.append("\\\"", to: &out)
            JSONWriter.appendNumber(lsn.rawValue, to: &out)
            JSONWriter.append("\\\",", to: &out)
        } else {
            JSONWriter.append("null,", to: &out)
        }
    }

    /// A commit time's fields, made once per transaction: every event of it has them.
    private func commitTimes(_ time: PostgresTimestamp) -> (milliseconds: [UInt8], rest: [UInt8]) {
        let micros = DebeziumValues.unixMicroseconds(time)
        if micros != commitCache.micros { commitCache = (micros, Self.times(micros)) }
        return commitCache.times
    }

    /// `ms`, and `,"ts_us":µs,"ts_ns":ns`, of a time in microseconds since the epoch.
    private static func times(_ micros: Int64) -> (milliseconds: [UInt8], rest: [UInt8]) {
        var milliseconds: [UInt8] = []
        JSONWriter.appendNumber(DebeziumValues.floorDivide(micros, 1000), to: &milliseconds)
        var rest: [UInt8] = []
        JSONWriter.append(",\"ts_us\":", to: &rest)
        JSONWriter.appendNumber(micros, to: &rest)
        JSONWriter.append(",\"ts_ns\":", to: &rest)
        let (nanos, overflow) = micros.multipliedReportingOverflow(by: 1000)
        JSONWriter.appendNumber(overflow ? (micros < 0 ? Int64.min : Int64.max) : nanos, to: &rest)
        return (milliseconds, rest)
    }

    /// `{"column":value,…}` or `null`; with `fillsRequired`, a NOT NULL column without a value
    /// gets its default or its type's zero. From the row's tuple, a value whose text is its JSON
    /// is copied from the server's bytes, and only the others are decoded.
    private func row(
        _ row: PGRow?, _ facts: CatalogFacts.Table, fillsRequired: Bool, filling: PGRow? = nil, into out: inout [UInt8]
    ) {
        guard let row else {
            JSONWriter.append("null", to: &out)
            return
        }
        let codec = self.codec(facts)
        let columns = row.columns
        out.append(0x7B)
        if let tuple = row.tuple, !fillsRequired, columns.count == codec.names.count {
            tuple.forEachColumn { index, kind, bytes in
                guard index < columns.count else { return }
                if index > 0 { out.append(0x2C) }
                out += codec.names[index]
                switch kind {
                case .null: JSONWriter.append("null", to: &out)
                case .text where codec.texts[index] == .string: JSONWriter.appendString(bytes, to: &out)
                case .text where codec.texts[index] == .number: out.append(contentsOf: bytes)
                case .text where codec.texts[index] == .boolean:
                    JSONWriter.append(bytes.first == 0x74 ? "true" : "false", to: &out)
                case .text
                where codec.texts[index] == .numeric
                    && values.numericText(bytes, typeModifier: columns[index].typeModifier, into: &out):
                    break
                case .text
                where codec.texts[index] == .timestamptz
                    && DebeziumValues.timestamptzText(
                        bytes, digits: DebeziumValues.precision(columns[index]), into: &out):
                    break
                case .text where codec.texts[index] == .textArray && DebeziumValues.textArrayText(bytes, into: &out):
                    break
                case .unchangedToast:
                    // Under REPLICA IDENTITY FULL the old row has the value, and Debezium takes it.
                    let old = filling?[index] ?? .unchangedToast
                    values.value(
                        old == .null ? .unchangedToast : old, columns[index], kind: codec.kinds[index], into: &out)
                case .text, .binary:
                    let format: PGValueFormat = kind == .text ? .text : .binary
                    let type = PGTypeOID(columns[index].typeOID)
                    let value =
                        (try? PGValue.decode(bytes, type: type, format: format, base: 0))
                        ?? .raw(PGRawValue(type: type, format: format, bytes: Array(bytes)))
                    values.value(value, columns[index], kind: codec.kinds[index], into: &out)
                }
            }
        } else {
            for index in columns.indices {
                if index > 0 { out.append(0x2C) }
                let column = columns[index]
                if index < codec.names.count {
                    out += codec.names[index]
                } else {
                    JSONWriter.appendString(column.name, to: &out)
                    out.append(0x3A)
                }
                let value = row[index] ?? .null
                let kind = index < codec.kinds.count ? codec.kinds[index] : .plain
                if fillsRequired, value == .null, !column.isKey, index < facts.notNull.count, facts.notNull[index] {
                    values.required(
                        column, kind: kind, default: index < facts.defaults.count ? facts.defaults[index] : nil,
                        into: &out)
                } else {
                    values.value(value, column, kind: kind, into: &out)
                }
            }
        }
        out.append(0x7D)
    }

    // MARK: - Messages and snapshot rows

    /// A message outside any transaction: `source.ts_ms` is the last commit's time, and its
    /// position starts the sequence of what follows.
    func message(_ message: PGLogicalDecodingMessage, into out: inout [UInt8]) -> Bool {
        var points: [Int] = []
        lastCommitEnd = message.lsn
        let time = lastCommitTime.map { SourceTime.commit($0) } ?? .now
        self.message(message, Position(xid: nil, lsn: message.lsn, time: time), points: &points, into: &out)
        return true
    }

    /// What a spooled event gets at its insertion points: the commit's times, then the
    /// sequence's first element (the end of the commit before it).
    func insertion(for transaction: PGTransaction) -> [UInt8] {
        let times = commitTimes(transaction.commitTime)
        var out = times.milliseconds + times.rest
        JSONWriter.append(",\"sequence\":\"[", to: &out)
        sequenceStart(lastCommitEnd, into: &out)
        return out
    }

    /// `{"op":"m","ts_ms":…,"source":{…},"transaction":null,"message":{"prefix":…,"content":…}}`.
    private func message(
        _ message: PGLogicalDecodingMessage, _ position: Position, points: inout [Int], into out: inout [UInt8]
    ) {
        if options.keyValue {
            JSONWriter.append("{\"prefix\":", to: &out)
            JSONWriter.appendString(message.prefix, to: &out)
            JSONWriter.append("}\t", to: &out)
        }
        JSONWriter.append("{\"op\":\"m\",\"ts_ms\":", to: &out)
        JSONWriter.appendNumber(Self.nowNanoseconds / 1_000_000, to: &out)
        JSONWriter.append(",\"source\":", to: &out)
        var position = position
        position.lsn = message.lsn
        source(table: nil, position, points: &points, into: &out)
        JSONWriter.append(",\"transaction\":null,\"message\":{\"prefix\":", to: &out)
        JSONWriter.appendString(message.prefix, to: &out)
        JSONWriter.append(",\"content\":", to: &out)
        values.binary(message.content, into: &out)
        JSONWriter.append("}}\n", to: &out)
    }

    /// A snapshot row (`op: "r"`). The initial snapshot's rows are marked as Debezium marks
    /// them (`first`, `first_in_data_collection`, `true`, `last_in_data_collection`, `last`),
    /// with the slot's consistent point as `lsn` and the snapshot's xmax as `txId`; a backfill
    /// chunk's rows are `incremental`.
    func snapshotRow(_ row: PGRow, at index: Int, of batch: PGSnapshotBatch, into out: inout [UInt8]) throws {
        let table = batch.table
        let facts = try catalogFacts.facts(for: table)
        if options.keyValue {
            if let key = keyColumns(table, facts) { self.key(row, key, facts, into: &out) }
            out.append(0x09)
        }
        var position = Position(xid: nil, lsn: nil, time: .now, snapshot: "incremental")
        if batch.backfill == nil {
            position.snapshot = snapshotMarker(at: index, of: batch)
            position.xid = batch.point?.xmax
            position.lsn = batch.point?.lsn
        }
        JSONWriter.append("{\"before\":null,\"after\":", to: &out)
        self.row(row, facts, fillsRequired: false, into: &out)
        JSONWriter.append(",\"source\":", to: &out)
        var points: [Int] = []
        source(table: table, position, points: &points, into: &out)
        JSONWriter.append(",\"transaction\":null,\"op\":\"r\",", to: &out)
        now(into: &out)
        JSONWriter.append("}\n", to: &out)
    }

    /// Debezium's marker of an initial snapshot row: the snapshot's first row (of its first
    /// table), its last, a table's first or last, or `true`.
    private func snapshotMarker(at index: Int, of batch: PGSnapshotBatch) -> StaticString {
        if snapshotTableOID != batch.table.oid {
            snapshotTableOID = batch.table.oid
            snapshotRowsInTable = 0
        }
        snapshotRowsInTable += 1
        let lastInTable = batch.isLast && index == batch.rows.count - 1
        if lastInTable && batch.endsSnapshot { return "last" }
        if index == 0 && batch.startsSnapshot { return "first" }
        if lastInTable { return "last_in_data_collection" }
        if snapshotRowsInTable == 1 { return "first_in_data_collection" }
        return "true"
    }
}
