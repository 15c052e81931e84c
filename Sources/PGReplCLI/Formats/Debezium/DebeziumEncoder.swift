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
    /// `"name":…,` then `,"db":…` of every `source` block, escaped once.
    private let sourceName: [UInt8]
    private let sourceDatabase: [UInt8]
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
    /// The column kinds of the table written last.
    private var kinds: (table: ObjectIdentifier, kinds: [DebeziumValues.Kind])?

    init(options: DebeziumOptions, catalog: CatalogFacts) {
        self.options = options
        self.catalogFacts = catalog
        values = DebeziumValues(options: options)
        var name: [UInt8] = []
        JSONWriter.appendString(options.topicPrefix, to: &name)
        sourceName = name
        var database: [UInt8] = []
        JSONWriter.appendString(catalog.database, to: &database)
        sourceDatabase = database
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
        var snapshot: StaticString = "false"
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
            index < old.values.count && index < new.values.count && old.values[index] != new.values[index]
                && new.values[index] != .unchangedToast
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
        let kinds = self.kinds(facts)
        out.append(0x7B)
        var first = true
        for index in key where index < row.values.count {
            if !first { out.append(0x2C) }
            first = false
            JSONWriter.appendString(row.columns[index].name, to: &out)
            out.append(0x3A)
            values.value(row.values[index], row.columns[index], kind: kinds[index], into: &out)
        }
        out.append(0x7D)
    }

    /// Each column's kind (hstore, domain or plain), worked out once per table description.
    private func kinds(_ facts: CatalogFacts.Table) -> [DebeziumValues.Kind] {
        if let kinds, kinds.table == ObjectIdentifier(facts), kinds.kinds.count == facts.columns.count {
            return kinds.kinds
        }
        let made: [DebeziumValues.Kind] = facts.columns.indices.map { index in
            if index < facts.domainBases.count, let base = facts.domainBases[index] { return .domain(base) }
            let name = index < facts.plainTypeNames.count ? facts.plainTypeNames[index] : nil
            if let name, name == "hstore" || name.hasSuffix(".hstore") { return .hstore }
            return .plain
        }
        kinds = (ObjectIdentifier(facts), made)
        return made
    }

    private func envelope(
        op: StaticString, before: PGRow?, after: PGRow?, table: PGTable, _ position: Position,
        facts: CatalogFacts.Table? = nil, fillsRequired: Bool = false, points: inout [Int], into out: inout [UInt8]
    ) {
        JSONWriter.append("{\"before\":", to: &out)
        row(before, facts, fillsRequired: fillsRequired, into: &out)
        JSONWriter.append(",\"after\":", to: &out)
        row(after, facts, fillsRequired: false, into: &out)
        JSONWriter.append(",\"source\":", to: &out)
        source(table: table, position, points: &points, into: &out)
        JSONWriter.append(",\"transaction\":null,\"op\":\"", to: &out)
        JSONWriter.append(op, to: &out)
        JSONWriter.append("\",", to: &out)
        Self.now(into: &out)
        JSONWriter.append("}\n", to: &out)
    }

    /// `"ts_ms":…,"ts_us":…,"ts_ns":…`: the time of writing.
    private static func now(into out: inout [UInt8]) {
        JSONWriter.append("\"ts_ms\":", to: &out)
        nowValues(into: &out)
    }

    /// `ms,"ts_us":µs,"ts_ns":ns` of the time of writing (after `"ts_ms":`).
    private static func nowValues(into out: inout [UInt8]) {
        let nanoseconds = nowNanoseconds
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
        JSONWriter.append("{\"version\":\"", to: &out)
        JSONWriter.append(Self.version, to: &out)
        JSONWriter.append("\",\"connector\":\"postgresql\",\"name\":", to: &out)
        out += sourceName
        JSONWriter.append(",\"ts_ms\":", to: &out)
        // Debezium's order: ts_ms, snapshot, db, sequence, ts_us, ts_ns.
        var micros: Int64?
        switch position.time {
        case .deferred:
            // `ts_ms…,"sequence":"[first,` comes at the commit.
            points.append(out.count)
        case .commit(let time):
            micros = DebeziumValues.unixMicroseconds(time)
        case .now:
            micros = Self.nowNanoseconds / 1000
        }
        if let micros {
            JSONWriter.appendNumber(DebeziumValues.floorDivide(micros, 1000), to: &out)
            JSONWriter.append(",\"snapshot\":\"", to: &out)
            JSONWriter.append(position.snapshot, to: &out)
            JSONWriter.append("\",\"db\":", to: &out)
            out += sourceDatabase
            JSONWriter.append(",\"sequence\":\"[", to: &out)
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
        if let micros {
            Self.microTimes(micros, into: &out)
        } else {
            JSONWriter.append(",\"snapshot\":\"false\",\"db\":", to: &out)
            out += sourceDatabase
        }
        JSONWriter.append(",\"schema\":", to: &out)
        JSONWriter.appendString(table?.schema ?? "", to: &out)
        JSONWriter.append(",\"table\":", to: &out)
        JSONWriter.appendString(table?.name ?? "", to: &out)
        JSONWriter.append(",\"txId\":", to: &out)
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

    /// `,"ts_us":µs,"ts_ns":ns`.
    private static func microTimes(_ micros: Int64, into out: inout [UInt8]) {
        JSONWriter.append(",\"ts_us\":", to: &out)
        JSONWriter.appendNumber(micros, to: &out)
        JSONWriter.append(",\"ts_ns\":", to: &out)
        let (nanos, overflow) = micros.multipliedReportingOverflow(by: 1000)
        JSONWriter.appendNumber(overflow ? (micros < 0 ? Int64.min : Int64.max) : nanos, to: &out)
    }

    /// `{"column":value,…}` or `null`; with `fillsRequired`, a NOT NULL column without a value
    /// gets its default or its type's zero.
    private func row(_ row: PGRow?, _ facts: CatalogFacts.Table?, fillsRequired: Bool, into out: inout [UInt8]) {
        guard let row else {
            JSONWriter.append("null", to: &out)
            return
        }
        let kinds = facts.map { self.kinds($0) } ?? []
        out.append(0x7B)
        for index in row.columns.indices {
            if index > 0 { out.append(0x2C) }
            let column = row.columns[index]
            JSONWriter.appendString(column.name, to: &out)
            out.append(0x3A)
            let value = row.values[index]
            let kind = index < kinds.count ? kinds[index] : .plain
            if fillsRequired, let facts, value == .null, !column.isKey, index < facts.notNull.count,
                facts.notNull[index]
            {
                values.required(
                    column, kind: kind, default: index < facts.defaults.count ? facts.defaults[index] : nil,
                    into: &out)
            } else {
                values.value(value, column, kind: kind, into: &out)
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
        var out: [UInt8] = []
        let micros = DebeziumValues.unixMicroseconds(transaction.commitTime)
        JSONWriter.appendNumber(DebeziumValues.floorDivide(micros, 1000), to: &out)
        Self.microTimes(micros, into: &out)
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
        Self.now(into: &out)
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
