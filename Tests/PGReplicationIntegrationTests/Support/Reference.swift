import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import PGReplicationCore

/// The independent record of what a slot should deliver, from the best plugin the server build
/// has: wal2json (the PostgreSQL 15 lane), test_decoding (18), or, where neither exists (16),
/// pgoutput read through the SQL interface: the server's own encoding, read with the decoder that
/// the 15 lane checks against wal2json. Each is a copy of the slot under test, so it starts at the
/// same position; reading it consumes it.
///
/// With ``Mirror`` (the stream replayed into a table image, compared with `SELECT`), the no-loss
/// tests have an oracle on every version.
enum Reference {
    enum Plugin: String {
        case wal2json
        case testDecoding = "test_decoding"
        case pgoutput
    }

    static var plugin: Plugin {
        if ServerFeatures.current.runs(.wal2json) { return .wal2json }
        if ServerFeatures.current.runs(.testDecoding) { return .testDecoding }
        return .pgoutput
    }

    /// The SQL that copies `slot` into a reference slot `name`.
    static func copySlot(_ slot: String, to name: String) -> String {
        "SELECT pg_copy_logical_replication_slot('\(slot)', '\(name)', false, '\(plugin.rawValue)')"
    }

    /// Reads the reference slot to its end: its transactions with changes to `tables`, with the
    /// end of each commit record.
    static func read(slot: String, tables: [String], publication: String, dsn: String) throws -> [ComparableTransaction]
    {
        switch plugin {
        case .wal2json: return try Wal2JSON.read(slot: slot, tables: tables, dsn: dsn)
        case .testDecoding: return try TestDecoding.read(slot: slot, tables: tables, dsn: dsn)
        case .pgoutput: return try readPGOutput(slot: slot, tables: tables, publication: publication, dsn: dsn)
        }
    }

    private static func readPGOutput(
        slot: String, tables: [String], publication: String, dsn: String
    ) throws -> [ComparableTransaction] {
        let connection = try PGConnection(dsn)
        defer { connection.close() }
        let result = try connection.execute(
            """
            SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('\(slot)', NULL, NULL,
              'proto_version', '1', 'publication_names', '\(publication)')
            """)
        var assembler = TransactionAssembler(decoder: PGOutputDecoder(protocolVersion: 1), delivery: .assembled)
        var transactions: [ComparableTransaction] = []
        for row in result.rows {
            guard let hex = row.first ?? nil, let payload = hexBytes(hex) else {
                throw TestSetupError("unreadable pgoutput row from the reference slot")
            }
            try payload.withUnsafeBytes { bytes in
                try assembler.feed(bytes) { event in
                    guard case .transaction(let transaction) = event else { return }
                    var comparable = ComparableTransaction(transaction)
                    comparable.changes = comparable.changes.filter { tables.contains($0.table) }
                    if !comparable.changes.isEmpty { transactions.append(comparable) }
                }
            }
        }
        return transactions
    }
}

/// test_decoding's text, for the column types the no-loss rigs use (integer, bigint, text).
enum TestDecoding {
    static func read(slot: String, tables: [String], dsn: String) throws -> [ComparableTransaction] {
        let connection = try PGConnection(dsn)
        defer { connection.close() }
        let result = try connection.execute(
            "SELECT data, lsn FROM pg_logical_slot_get_changes('\(slot)', NULL, NULL, 'include-xids', '1')")
        var transactions: [ComparableTransaction] = []
        var current: ComparableTransaction?
        for row in result.rows {
            guard let line = row.first ?? nil else { continue }
            if line.hasPrefix("BEGIN ") {
                current = ComparableTransaction(xid: UInt32(line.dropFirst(6)) ?? 0, changes: [])
            } else if line.hasPrefix("COMMIT") {
                if var done = current, !done.changes.isEmpty {
                    done.endLSN = try LSN(row.count > 1 ? row[1] ?? "" : "")
                    transactions.append(done)
                }
                current = nil
            } else if line.hasPrefix("table ") {
                if let change = try change(line), tables.contains(change.table) { current?.changes.append(change) }
            }
        }
        return transactions
    }

    /// `table public.t: INSERT: id[integer]:2 v[text]:'a'`; an UPDATE's new tuple (after
    /// `new-tuple:` when the old key is shown), a DELETE's key.
    static func change(_ line: String) throws -> ComparableChange? {
        guard let colon = line.range(of: ": ") else { return nil }
        let qualified = line[line.index(line.startIndex, offsetBy: 6)..<colon.lowerBound]
        let table = String(qualified.split(separator: ".").last ?? "")
        var rest = line[colon.upperBound...]
        guard let actionEnd = rest.range(of: ":") else { return nil }
        let action = rest[..<actionEnd.lowerBound]
        rest = rest[actionEnd.upperBound...]
        let letter: Character
        switch action {
        case "INSERT": letter = "I"
        case "UPDATE": letter = "U"
        case "DELETE": letter = "D"
        case "TRUNCATE": return ComparableChange(action: "T", table: table, values: [:])
        default: return nil
        }
        if letter == "U", let newTuple = rest.range(of: "new-tuple: ") { rest = rest[newTuple.upperBound...] }
        return ComparableChange(action: letter, table: table, values: try columns(rest))
    }

    /// `name[type]:value …` with values quoted ('' inside), bare, `null` or `unchanged-toast-datum`.
    static func columns(_ text: Substring) throws -> [String: PGValue] {
        let oids = ["integer": UInt32(23), "bigint": 20, "text": 25, "smallint": 21, "boolean": 16]
        var values: [String: PGValue] = [:]
        var index = text.startIndex
        while index < text.endIndex {
            while index < text.endIndex, text[index] == " " { index = text.index(after: index) }
            guard index < text.endIndex, let open = text[index...].firstIndex(of: "["),
                let close = text[open...].firstIndex(of: "]")
            else { break }
            let name = String(text[index..<open])
            let type = String(text[text.index(after: open)..<close])
            var cursor = text.index(close, offsetBy: 2)  // past "]:"
            var value = ""
            var quoted = false
            if cursor < text.endIndex, text[cursor] == "'" {
                quoted = true
                cursor = text.index(after: cursor)
                while cursor < text.endIndex {
                    if text[cursor] == "'" {
                        let next = text.index(after: cursor)
                        if next < text.endIndex, text[next] == "'" {
                            value.append("'")
                            cursor = text.index(after: next)
                            continue
                        }
                        cursor = next
                        break
                    }
                    value.append(text[cursor])
                    cursor = text.index(after: cursor)
                }
            } else {
                while cursor < text.endIndex, text[cursor] != " " {
                    value.append(text[cursor])
                    cursor = text.index(after: cursor)
                }
            }
            index = cursor
            if !quoted, value == "unchanged-toast-datum" { continue }
            guard let oid = oids[type] else {
                throw TestSetupError("the test_decoding reference reads \(oids.keys.sorted()), not \(type)")
            }
            values[name] =
                !quoted && value == "null" ? .null : try PGValue(column: .text(Array(value.utf8)), typeOID: oid)
        }
        return values
    }
}

/// A table image built by replaying changes, keyed by primary key, to compare with `SELECT`.
struct Mirror: Equatable {
    /// table → key → row.
    var tables: [String: [String: [String: PGValue]]] = [:]

    /// Replays one transaction; `keys` names each table's key columns.
    mutating func apply(_ transaction: ComparableTransaction, keys: [String: [String]]) {
        for change in transaction.changes {
            let key = (keys[change.table] ?? ["id"]).map { change.values[$0]?.description ?? "?" }.joined(
                separator: ",")
            switch change.action {
            case "I": tables[change.table, default: [:]][key] = change.values
            case "U": tables[change.table, default: [:]][key, default: [:]].merge(change.values) { $1 }
            case "D": tables[change.table]?[key] = nil
            case "T": tables[change.table] = [:]
            default: break
            }
        }
    }

    /// Replays one change as the stream delivered it (an update whose key changed removes the
    /// row under its old key first), or a snapshot row as an insert.
    mutating func apply(_ change: PGChange, keys: [String: [String]]) {
        func key(_ table: String, _ values: [String: PGValue]) -> String {
            (keys[table] ?? ["id"]).map { values[$0]?.description ?? "?" }.joined(separator: ",")
        }
        switch change {
        case .insert(let table, let new):
            let values = ComparableTransaction.values(new, skipNull: false)
            tables[table.name, default: [:]][key(table.name, values)] = values
        case .update(let table, let old, _, let new):
            let values = ComparableTransaction.values(new, skipNull: false)
            if let old {
                let oldKey = key(table.name, ComparableTransaction.values(old, skipNull: false))
                let previous = tables[table.name]?[oldKey] ?? [:]
                tables[table.name]?[oldKey] = nil
                tables[table.name, default: [:]][key(table.name, values)] = previous.merging(values) { $1 }
            } else {
                tables[table.name, default: [:]][key(table.name, values), default: [:]].merge(values) { $1 }
            }
        case .delete(let table, let old, _):
            tables[table.name]?[key(table.name, ComparableTransaction.values(old, skipNull: false))] = nil
        case .truncate(let truncated, _, _):
            for table in truncated { tables[table.name] = [:] }
        case .message:
            break
        }
    }

    /// Replays a stream's events: snapshot rows (initial or backfill), whole transactions, and
    /// chunked ones at their commit (what an abort voids is dropped).
    mutating func apply(_ events: [PGChangeEvent], keys: [String: [String]]) {
        var open: [UInt32: [(subxid: UInt32, change: PGChange)]] = [:]
        for event in events {
            switch event {
            case .snapshot(let batch):
                for row in batch.rows { apply(.insert(table: batch.table, new: row), keys: keys) }
            case .transaction(let transaction):
                for change in transaction.changes { apply(change, keys: keys) }
            case .changes(let batch):
                open[batch.xid, default: []] += batch.changes.map { (batch.subtransactionXID, $0) }
            case .abort(let abort):
                if abort.abortsWholeTransaction {
                    open[abort.xid] = nil
                } else {
                    open[abort.xid]?.removeAll { $0.subxid == abort.subtransactionXID }
                }
            case .commit(let transaction):
                for (_, change) in open.removeValue(forKey: transaction.xid) ?? [] { apply(change, keys: keys) }
            default: break
            }
        }
    }

    /// The image of `tables` now, read with the same value decoder.
    static func select(_ tables: [String], keys: [String: [String]], dsn: String) throws -> Mirror {
        try select(
            queries: Dictionary(uniqueKeysWithValues: tables.map { ($0, "SELECT * FROM \($0)") }), keys: keys, dsn: dsn)
    }

    /// The image of each table as its query reads it (a publication's columns and row filter).
    static func select(queries: [String: String], keys: [String: [String]], dsn: String) throws -> Mirror {
        let connection = try PGConnection(dsn)
        defer { connection.close() }
        // Text in the forms the replication connection pins (datestyle, intervalstyle, float digits).
        try connection.execute("SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3")
        var mirror = Mirror()
        for (table, query) in queries {
            let result = try connection.execute(query)
            var rows: [String: [String: PGValue]] = [:]
            for row in result.rows {
                var values: [String: PGValue] = [:]
                for (index, name) in result.columns.enumerated() {
                    values[name] =
                        try row[index].map {
                            try PGValue(column: .text(Array($0.utf8)), typeOID: result.columnTypes[index])
                        }
                        ?? .null
                }
                let key = (keys[table] ?? ["id"]).map { values[$0]?.description ?? "?" }.joined(separator: ",")
                rows[key] = values
            }
            mirror.tables[table] = rows
        }
        return mirror
    }

    /// How the two differ, for a failure message; nil when they are equal.
    func difference(from other: Mirror) -> String? {
        for table in Set(tables.keys).union(other.tables.keys).sorted() {
            let ours = tables[table] ?? [:]
            let theirs = other.tables[table] ?? [:]
            if ours == theirs { continue }
            let missing = Set(theirs.keys).subtracting(ours.keys)
            let extra = Set(ours.keys).subtracting(theirs.keys)
            let changed = Set(ours.keys).intersection(theirs.keys).filter { ours[$0] != theirs[$0] }
            return
                "\(table): \(missing.count) rows missing (first \(missing.sorted().first ?? "-")), \(extra.count) extra, "
                + "\(changed.count) different (first \(changed.sorted().first.map { "\($0): \(ours[$0] ?? [:]) vs \(theirs[$0] ?? [:])" } ?? "-"))"
        }
        return nil
    }
}
