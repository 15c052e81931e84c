import Foundation
import PGOutput
import PGReplication

/// Lines in wal2json's format-version 2, written straight into a byte buffer: every line equals
/// the one wal2json (2.5 and later) writes for the same change with the same options. Values
/// in text mode are the server's text output bytes (escaped as JSON); binary values are brought
/// to the same text.
final class Wal2JSONEncoder: ChangeLineEncoder {
    let options: Wal2JSONOptions
    let catalogFacts: CatalogFacts
    var catalog: CatalogFacts? { catalogFacts }

    init(options: Wal2JSONOptions, catalog: CatalogFacts) {
        self.options = options
        self.catalogFacts = catalog
    }

    // MARK: - B and C

    func begin(_ transaction: TransactionLine, into out: inout [UInt8]) {
        guard options.includeTransaction else { return }
        transactionLine("B", transaction, into: &out)
    }

    func commit(_ transaction: TransactionLine, into out: inout [UInt8]) {
        guard options.includeTransaction else { return }
        transactionLine("C", transaction, into: &out)
    }

    /// Whether a B line needs what only the commit tells (`include-lsn`: the commit record's end).
    var spoolsEveryTransaction: Bool { options.includeTransaction && options.includeLSN }

    /// A two-phase line (pgrepl's own; wal2json has none): `P` where a prepared transaction ends
    /// (in place of its `C`), `CP` for its COMMIT PREPARED, `RP` for its ROLLBACK PREPARED; each
    /// with the `gid`, and the transaction fields the options ask for.
    func twoPhase(_ action: TwoPhaseAction, gid: String, _ transaction: TransactionLine, into out: inout [UInt8]) {
        let name: StaticString =
            switch action {
            case .prepare: "P"
            case .commitPrepared: "CP"
            case .rollbackPrepared: "RP"
            }
        transactionLine(name, gid: gid, transaction, into: &out)
    }

    private func transactionLine(
        _ action: StaticString, gid: String? = nil, _ transaction: TransactionLine, into out: inout [UInt8]
    ) {
        let (xid, commitLSN, endLSN) = (transaction.xid, transaction.lsn, transaction.endLSN)
        let time = transaction.time ?? PostgresTimestamp(rawValue: 0)
        JSONWriter.append("{\"action\":\"", to: &out)
        JSONWriter.append(action, to: &out)
        out.append(0x22)
        if let gid {
            JSONWriter.append(",\"gid\":", to: &out)
            JSONWriter.appendString(gid, to: &out)
        }
        if options.includeXids {
            JSONWriter.append(",\"xid\":", to: &out)
            JSONWriter.appendNumber(xid, to: &out)
        }
        if options.includeTimestamp { out += timestampField(time) }
        if options.includeLSN {
            JSONWriter.append(",\"lsn\":", to: &out)
            JSONWriter.appendString(commitLSN.description, to: &out)
            JSONWriter.append(",\"nextlsn\":", to: &out)
            JSONWriter.appendString((endLSN ?? 0).description, to: &out)
        }
        JSONWriter.append("}\n", to: &out)
    }

    /// `,"timestamp":"…"` for a commit time, as the server's TimeZone prints it.
    func timestampField(_ time: PostgresTimestamp) -> [UInt8] {
        var out: [UInt8] = []
        JSONWriter.append(",\"timestamp\":", to: &out)
        JSONWriter.appendString(catalogFacts.zone.text(time), to: &out)
        return out
    }

    // MARK: - Changes

    /// Appends the lines of one change to `out` (none when options leave it out). `time` is the
    /// commit time when known; when it is nil and `include-timestamp` is on, the offsets in `out`
    /// where its field goes are returned (a truncate writes a line per table).
    func change(_ change: PGChange, at position: ChangePosition, into out: inout [UInt8]) throws -> [Int] {
        let (xid, lsn) = (position.xid, position.lsn)
        let time = position.commit.map { $0.time ?? PostgresTimestamp(rawValue: 0) }
        var points: [Int] = []
        func note(_ point: Int?) { if let point { points.append(point) } }
        switch change {
        case .insert(let table, let new):
            guard options.actions.contains(.insert), options.includes(schema: table.schema, table: table.name) else {
                return []
            }
            note(try rowChange("I", table, xid: xid, lsn: lsn, time: time, new: new, identity: nil, into: &out))
        case .update(let table, let old, let oldIsKey, let new):
            guard options.actions.contains(.update), options.includes(schema: table.schema, table: table.name) else {
                return []
            }
            // The old key, the old row (REPLICA IDENTITY FULL), or, when the server sent neither
            // (the key did not change), the key columns of the new row.
            let identity: (row: PGRow, keysOnly: Bool)? =
                old.map { ($0, oldIsKey) } ?? (table.columns.contains(where: \.isKey) ? (new, true) : nil)
            note(try rowChange("U", table, xid: xid, lsn: lsn, time: time, new: new, identity: identity, into: &out))
        case .delete(let table, let old, let oldIsKey):
            guard options.actions.contains(.delete), options.includes(schema: table.schema, table: table.name) else {
                return []
            }
            note(
                try rowChange(
                    "D", table, xid: xid, lsn: lsn, time: time, new: nil, identity: (old, oldIsKey), into: &out))
        case .truncate(let tables, _, _):
            guard options.actions.contains(.truncate) else { return [] }
            for table in tables where options.includes(schema: table.schema, table: table.name) {
                note(head("T", xid: xid, time: time, lsn: lsn, into: &out))
                out += try catalogFacts.facts(for: table).tableFields
                JSONWriter.append("}\n", to: &out)
            }
        case .message(let message):
            guard options.includes(messagePrefix: message.prefix) else { return [] }
            note(messageLine(message, xid: xid, time: time, into: &out))
        }
        return points
    }

    /// `{"action":"X"` with xid, timestamp and lsn as asked; returns where the timestamp goes
    /// when `time` is not known yet.
    private func head(
        _ action: StaticString, xid: UInt32?, time: PostgresTimestamp?, lsn: LSN?, into out: inout [UInt8]
    )
        -> Int?
    {
        JSONWriter.append("{\"action\":\"", to: &out)
        JSONWriter.append(action, to: &out)
        out.append(0x22)
        if options.includeXids {
            JSONWriter.append(",\"xid\":", to: &out)
            if let xid { JSONWriter.appendNumber(xid, to: &out) } else { JSONWriter.append("null", to: &out) }
        }
        var point: Int?
        if options.includeTimestamp {
            if let time {
                out += timestampField(time)
            } else {
                point = out.count
            }
        }
        if options.includeLSN, let lsn {
            JSONWriter.append(",\"lsn\":", to: &out)
            JSONWriter.appendString(lsn.description, to: &out)
        }
        return point
    }

    private func tableFields(_ table: PGTable, into out: inout [UInt8]) {
        if options.includeSchemas {
            JSONWriter.append(",\"schema\":", to: &out)
            JSONWriter.appendString(table.schema, to: &out)
        }
        JSONWriter.append(",\"table\":", to: &out)
        JSONWriter.appendString(table.name, to: &out)
    }

    private func rowChange(
        _ action: StaticString, _ table: PGTable, xid: UInt32, lsn: LSN?, time: PostgresTimestamp?, new: PGRow?,
        identity: (row: PGRow, keysOnly: Bool)?, into out: inout [UInt8]
    ) throws -> Int? {
        let facts = try catalogFacts.facts(for: table)
        let point = head(action, xid: xid, time: time, lsn: lsn, into: &out)
        out += facts.tableFields
        if let new {
            JSONWriter.append(",\"columns\":[", to: &out)
            columns(new, facts, kind: .change, keysOnly: false, into: &out)
            out.append(0x5D)
        }
        if let identity {
            JSONWriter.append(",\"identity\":[", to: &out)
            columns(identity.row, facts, kind: .identity, keysOnly: identity.keysOnly, into: &out)
            out.append(0x5D)
        }
        if options.includePK {
            JSONWriter.append(",\"pk\":[", to: &out)
            if facts.hasPrimaryKey {
                columns(new ?? identity?.row, facts, kind: .primaryKey, keysOnly: false, into: &out)
            }
            out.append(0x5D)
        }
        JSONWriter.append("}\n", to: &out)
        return point
    }

    enum ColumnKind { case change, identity, primaryKey }

    /// The `[{…},…]` items of a row: unchanged TOASTed values left out, as wal2json does. With
    /// the row's tuple, text values are copied from the server's bytes, and no decoded value is
    /// read.
    private func columns(
        _ row: PGRow?, _ facts: CatalogFacts.Table, kind: ColumnKind, keysOnly: Bool, into out: inout [UInt8]
    ) {
        guard let row else { return }
        // Borrowed once per row: nothing in the loop retains or releases.
        facts.encoded.withUnsafeBufferPointer { encoded in
            facts.offsets.withUnsafeBufferPointer { offsets in
                facts.typeOIDs.withUnsafeBufferPointer { types in
                    facts.flags.withUnsafeBufferPointer { flags in
                        var first = true
                        let count = types.count
                        func put(_ from: Int, _ to: Int) {
                            out.append(contentsOf: UnsafeBufferPointer(rebasing: encoded[offsets[from]..<offsets[to]]))
                        }
                        /// Writes the item's head; false when the column is left out.
                        func begin(_ index: Int) -> Bool {
                            guard index < count else { return false }
                            if keysOnly, flags[index] & 1 == 0 { return false }
                            if kind == .primaryKey, flags[index] & 2 == 0 { return false }
                            if !first { out.append(0x2C) }
                            first = false
                            if kind == .primaryKey {
                                put(4 * index + 2, 4 * index + 3)
                                return false
                            }
                            put(4 * index, 4 * index + 1)
                            return true
                        }
                        func end(_ index: Int) {
                            if kind == .change { put(4 * index + 1, 4 * index + 2) } else { out.append(0x7D) }
                        }
                        if let tuple = row.tuple {
                            tuple.forEachColumn { index, wireKind, bytes in
                                guard wireKind != .unchangedToast, begin(index) else { return }
                                switch wireKind {
                                case .null, .unchangedToast: JSONWriter.append("null", to: &out)
                                case .text: appendText(bytes, type: types[index], into: &out)
                                case .binary: value(row.values[index], type: types[index], into: &out)
                                }
                                end(index)
                            }
                        } else {
                            let values = row.values
                            for index in values.indices {
                                if case .unchangedToast = values[index] { continue }
                                guard begin(index) else { continue }
                                value(values[index], type: types[index], into: &out)
                                end(index)
                            }
                        }
                    }
                }
            }
        }
    }

    /// A decoded value (binary mode, or a row without its tuple) as its text output would be.
    private func value(_ value: PGValue, type: UInt32, into out: inout [UInt8]) {
        var text: String
        switch value {
        case .null, .unchangedToast:
            JSONWriter.append("null", to: &out)
            return
        case .timestamptz(let time): text = catalogFacts.zone.text(time)
        case .bool(let flag): text = flag ? "t" : "f"
        default: text = value.description
        }
        text.withUTF8 { appendText(UnsafeRawBufferPointer($0), type: type, into: &out) }
    }

    /// A value's text output: numbers bare (NaN and infinities as null), booleans, bytea without
    /// its `\x`, everything else as a JSON string.
    private func appendText(_ bytes: UnsafeRawBufferPointer, type: UInt32, into out: inout [UInt8]) {
        switch type {
        case 20, 21, 23, 26, 700, 701, 1700:  // int8, int2, int4, oid, float4, float8, numeric
            if options.numericDataTypesAsString {
                JSONWriter.appendString(bytes, to: &out)
            } else if Self.isSpecialNumber(bytes) {
                JSONWriter.append("null", to: &out)
            } else {
                out.append(contentsOf: bytes)
            }
        case 16:  // bool
            if bytes.count == 1, bytes[0] == 0x74 {
                JSONWriter.append("true", to: &out)
            } else {
                JSONWriter.append("false", to: &out)
            }
        case 17:  // bytea: the hex digits after `\x`
            JSONWriter.appendString(UnsafeRawBufferPointer(rebasing: bytes[min(2, bytes.count)...]), to: &out)
        default:
            JSONWriter.appendString(bytes, to: &out)
        }
    }

    /// `NaN`, `Infinity`, `-Infinity`, compared as wal2json does (case-insensitive prefixes).
    private static func isSpecialNumber(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let first = bytes.first else { return false }
        // Digits, signs and dots start every other number.
        let letter = first | 0x20
        guard letter == 0x6E || letter == 0x69 || (first == 0x2D && bytes.count > 1 && bytes[1] | 0x20 == 0x69) else {
            return false
        }
        func starts(with word: StaticString) -> Bool {
            guard bytes.count >= word.utf8CodeUnitCount else { return false }
            let pointer = word.utf8Start
            for index in 0..<word.utf8CodeUnitCount where bytes[index] | 0x20 != pointer[index] { return false }
            return true
        }
        return starts(with: "nan") || starts(with: "infinity") || (first == 0x2D && starts(with: "-infinity"))
    }

    // MARK: - Messages, snapshot rows, schema changes

    /// What a spooled line gets at its insertion point: the commit time's field.
    func insertion(for transaction: PGTransaction) -> [UInt8] {
        options.includeTimestamp ? timestampField(transaction.commitTime) : []
    }

    /// A non-transactional message's `M` line, unless the prefix is left out.
    func message(_ message: PGLogicalDecodingMessage, into out: inout [UInt8]) -> Bool {
        guard options.includes(messagePrefix: message.prefix) else { return false }
        _ = messageLine(message, xid: nil, time: nil, into: &out)
        return true
    }

    /// An `M` line; `xid` nil for a non-transactional message (`"xid":null`, `"timestamp":null`).
    private func messageLine(
        _ message: PGLogicalDecodingMessage, xid: UInt32?, time: PostgresTimestamp?, into out: inout [UInt8]
    )
        -> Int?
    {
        JSONWriter.append("{\"action\":\"M\"", to: &out)
        if options.includeXids {
            JSONWriter.append(",\"xid\":", to: &out)
            if message.isTransactional, let xid {
                JSONWriter.appendNumber(xid, to: &out)
            } else {
                JSONWriter.append("null", to: &out)
            }
        }
        var point: Int?
        if options.includeTimestamp {
            if !message.isTransactional {
                JSONWriter.append(",\"timestamp\":null", to: &out)
            } else if let time {
                out += timestampField(time)
            } else {
                point = out.count
            }
        }
        if options.includeLSN {
            JSONWriter.append(",\"lsn\":", to: &out)
            JSONWriter.appendString(message.lsn.description, to: &out)
        }
        JSONWriter.append(message.isTransactional ? ",\"transactional\":true" : ",\"transactional\":false", to: &out)
        JSONWriter.append(",\"prefix\":", to: &out)
        JSONWriter.appendString(message.prefix, to: &out)
        JSONWriter.append(",\"content\":", to: &out)
        // wal2json copies the content as a C string: up to its first NUL.
        let content = message.content.prefix { $0 != 0 }
        JSONWriter.appendString(Array(content), to: &out)
        JSONWriter.append("}\n", to: &out)
        return point
    }

    /// An `R` line (initial snapshot or backfill row): shaped like an `I` line, without an xid.
    func snapshotRow(_ row: PGRow, at index: Int, of batch: PGSnapshotBatch, into out: inout [UInt8]) throws {
        let table = batch.table
        let facts = try catalogFacts.facts(for: table)
        JSONWriter.append("{\"action\":\"R\"", to: &out)
        tableFields(table, into: &out)
        JSONWriter.append(",\"columns\":[", to: &out)
        columns(row, facts, kind: .change, keysOnly: false, into: &out)
        JSONWriter.append("]}\n", to: &out)
    }

    /// An `S` line (`--schema-changes`): the table's new columns and what changed.
    func schemaChange(_ change: PGSchemaChange, into out: inout [UInt8]) throws {
        let facts = try catalogFacts.facts(for: change.new)
        JSONWriter.append("{\"action\":\"S\"", to: &out)
        tableFields(change.new, into: &out)
        JSONWriter.append(",\"columns\":[", to: &out)
        for (index, column) in change.new.columns.enumerated() {
            if index > 0 { out.append(0x2C) }
            JSONWriter.append("{\"name\":", to: &out)
            JSONWriter.appendString(column.name, to: &out)
            JSONWriter.append(",\"type\":", to: &out)
            out += facts.typeNames[index]
            JSONWriter.append(",\"typeoid\":", to: &out)
            JSONWriter.appendNumber(column.typeOID, to: &out)
            out.append(0x7D)
        }
        func names(_ key: StaticString, _ list: [String]) {
            JSONWriter.append(key, to: &out)
            for (index, name) in list.enumerated() {
                if index > 0 { out.append(0x2C) }
                JSONWriter.appendString(name, to: &out)
            }
            out.append(0x5D)
        }
        out.append(0x5D)
        names(",\"added\":[", change.added)
        names(",\"dropped\":[", change.dropped)
        names(",\"retyped\":[", change.retyped)
        JSONWriter.append(",\"renamed\":[", to: &out)
        for (index, rename) in change.renamed.enumerated() {
            if index > 0 { out.append(0x2C) }
            JSONWriter.append("{\"from\":", to: &out)
            JSONWriter.appendString(rename.from, to: &out)
            JSONWriter.append(",\"to\":", to: &out)
            JSONWriter.appendString(rename.to, to: &out)
            out.append(0x7D)
        }
        JSONWriter.append("]}\n", to: &out)
    }
}
