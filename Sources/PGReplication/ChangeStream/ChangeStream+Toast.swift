import Foundation
import Logging
import PGOutput
import PGSupport

extension ChangeStream {
    /// What the stream does with a value an UPDATE left unchanged and the server did not send
    /// (``Configuration/unchangedToast``).
    ///
    /// Under REPLICA IDENTITY DEFAULT, an UPDATE that leaves a TOASTed (large) value unchanged
    /// sends no value for it: the row's column is `PGValue/unchangedToast`. REPLICA IDENTITY FULL
    /// sends it, at the cost of the whole old row in the WAL for every update.
    public enum UnchangedToast: Hashable, Sendable {
        /// Deliver the placeholder (`PGValue/unchangedToast`); pgrepl's json format leaves the
        /// column out, as wal2json does, and its debezium format writes Debezium's placeholder.
        case asIs
        /// Read the missing values back by key once the transaction is visible, batched per
        /// transaction (or chunk) and table, and deliver the rows whole:
        /// - The value read is the row's current one. A later change of the row is delivered after
        ///   this one, so a consumer that applies changes in order ends right.
        /// - The filled columns are named in `PGRow/reselectedColumns`.
        /// - A row deleted meanwhile (or no longer matching the publication's row filter) keeps
        ///   the placeholder. So does a key the stream cannot read back (a key value itself
        ///   TOASTed), a table without a primary key or replica identity index, a prepared
        ///   transaction (it is not visible before its `COMMIT PREPARED`), and, with assembled
        ///   delivery, the part of a transaction spilled past ``Configuration/transactionMemoryLimit``
        ///   (a warning names the transaction and how many changes spilled; chunked delivery
        ///   fills every batch).
        /// - Chunked delivery with streaming of in-progress transactions cannot fill a batch
        ///   before its commit, and is refused.
        case reselect
    }
}

/// Fills the unchanged TOASTed values of delivered updates from the table (``ChangeStream/UnchangedToast/reselect``).
final class ToastReselect {
    /// Keys per query: the rows read back wait in memory until their batch is filled.
    static let batch = 100

    private let context: StreamContext
    private let interruption: Interruption
    private let visibility: VisibilityCheck
    private var connection: PGConnection?
    private var tables: [UInt32: PublishedTable] = [:]
    /// Where each transaction delivered in chunks commits (from its begin), for its batches.
    private var commitLSNs: [UInt32: LSN] = [:]

    init(context: StreamContext, interruption: Interruption, visibility: VisibilityCheck) {
        self.context = context
        self.interruption = interruption
        self.visibility = visibility
    }

    deinit { connection?.close() }

    /// `event` with the unchanged TOASTed values of its updates filled. Every event the stream
    /// delivers passes here: a chunked transaction's begin says where it commits, for its batches.
    func fill(_ event: PGChangeEvent) throws -> PGChangeEvent {
        switch event {
        case .begin(let begin) where !begin.isStreamed && !begin.isPrepared:
            commitLSNs[begin.xid] = begin.finalLSN
            return event
        case .commit(let transaction):
            commitLSNs[transaction.xid] = nil
            return event
        case .abort(let abort) where abort.abortsWholeTransaction:
            commitLSNs[abort.xid] = nil
            return event
        case .transaction(var transaction):
            if case .prepare = transaction.kind { return event }
            let (list, spilled) = try transaction.changes.mappingMemory { changes in
                try fill(changes, xid: transaction.xid, commitLSN: transaction.commitLSN)
            }
            if spilled > 0 {
                // Reading the spill file again only to count its updates would double its I/O.
                context.logger.warning(
                    "the spilled part of a transaction keeps its unchanged TOAST placeholders (chunked delivery fills them)",
                    metadata: [
                        "pgrepl.slot": "\(context.configuration.slot)", "pgrepl.xid": "\(transaction.xid)",
                        "pgrepl.spilled_changes": "\(spilled)",
                    ])
            }
            transaction.changes = list
            return .transaction(transaction)
        case .changes(var batch):
            guard let lsn = commitLSNs[batch.xid] else { return event }
            batch.changes = try fill(batch.changes, xid: batch.xid, commitLSN: lsn)
            return .changes(batch)
        default:
            return event
        }
    }

    /// `changes` with their updates' unchanged TOASTed values read back, once the transaction is
    /// visible; the same array when none has one.
    private func fill(_ changes: [PGChange], xid: UInt32, commitLSN: LSN) throws -> [PGChange] {
        // Per table: the updates' indexes and their unchanged positions.
        var wanted: [UInt32: [(index: Int, positions: [Int])]] = [:]
        for (index, change) in changes.enumerated() {
            guard case .update(let table, _, _, let new) = change else { continue }
            let positions = new.unchangedToastPositions
            if !positions.isEmpty { wanted[table.oid, default: []].append((index, positions)) }
        }
        guard !wanted.isEmpty else { return changes }
        try visibility.waitUntilVisible(xid: xid, commitLSN: commitLSN)
        var filled = changes
        do {
            for (oid, updates) in wanted {
                guard let table = try publishedTable(oid), !table.key.isEmpty else { continue }
                for part in stride(from: 0, to: updates.count, by: Self.batch) {
                    try fill(Array(updates[part..<min(part + Self.batch, updates.count)]), of: table, in: &filled)
                }
            }
        } catch {
            // The stream reconnects, and this connection is opened again with it.
            connection?.close()
            connection = nil
            throw error
        }
        return filled
    }

    /// Reads the rows of `updates` back by key and fills their unchanged positions.
    private func fill(
        _ updates: [(index: Int, positions: [Int])], of table: PublishedTable, in changes: inout [PGChange]
    )
        throws
    {
        let sql = try session()
        let columns = table.changeTable.columns
        let keyPositions = table.key.compactMap { name in columns.firstIndex { $0.name == name } }
        guard keyPositions.count == table.key.count else { return }
        // Each update's key: as values to match the rows read, as text for the query.
        var keys: [[PGValue]?] = []
        var literals: [String] = []
        for update in updates {
            guard case .update(_, _, _, let new) = changes[update.index] else {
                keys.append(nil)
                continue
            }
            let values = keyPositions.map { new[$0] ?? .null }
            guard !values.contains(where: { $0 == .null || $0 == .unchangedToast }) else {
                keys.append(nil)
                continue
            }
            keys.append(values)
            let texts = try keyPositions.map { position in try sql.quoteLiteral(Self.text(of: new, at: position)) }
            literals.append(texts.count == 1 ? texts[0] : "(\(texts.joined(separator: ", ")))")
        }
        guard !literals.isEmpty else { return }
        let keyList = try table.key.map { try sql.quoteIdentifier($0) }
        let condition =
            (keyList.count == 1 ? keyList[0] : "(\(keyList.joined(separator: ", ")))")
            + " IN (\(literals.joined(separator: ", ")))"
        let binary = context.configuration.binary && !table.published.isEmpty
        // The rows as the server sent them; only their keys are decoded, to match.
        var reader = CopyRowReader(
            columns: columns, binaryFormats: binary ? table.copyFormats() : nil, keepTuples: true, decodeValues: false)
        var current: [[PGValue]: PGRow] = [:]
        try sql.copyOut(try table.copyStatement(binary: binary, condition: condition, sql)) { message in
            guard let (row, _) = try reader.row(message) else { return }
            current[keyPositions.map { row[$0] ?? .null }] = row
        }
        for (update, key) in zip(updates, keys) {
            guard let key, let row = current[key],
                case .update(let changed, let old, let oldIsKey, let new) = changes[update.index]
            else { continue }
            changes[update.index] = .update(
                table: changed, old: old, oldIsKey: oldIsKey,
                new: try Self.filling(new, at: update.positions, from: row))
        }
    }

    /// `row` with the values at `positions` taken from `current`, and those columns named.
    static func filling(_ row: PGRow, at positions: [Int], from current: PGRow) throws -> PGRow {
        var filled: PGRow
        if let tuple = row.tuple, let source = current.tuple {
            var columns = tuple.columns
            let replacements = source.columns
            for position in positions where columns.indices.contains(position) {
                columns[position] = replacements[position]
            }
            filled = try PGRow(
                columns: row.columns, tuple: TupleData(columns: columns), keepingTuple: true,
                decodingValues: !row.values.isEmpty)
        } else {
            var values = row.values
            for position in positions where values.indices.contains(position) {
                values[position] = current[position] ?? .unchangedToast
            }
            filled = PGRow(columns: row.columns, values: values)
        }
        filled.reselectedColumns = Set(positions.map { row.columns[$0].name })
        return filled
    }

    /// A key value as text for the query: the server's own bytes when it sent text, else the
    /// decoded value in PostgreSQL's text form.
    static func text(of row: PGRow, at position: Int) -> String {
        var text: String?
        row.tuple?.forEachColumn { index, kind, bytes in
            if index == position, kind == .text { text = String(decoding: bytes, as: UTF8.self) }
        }
        return text ?? row[position]?.description ?? ""
    }

    private func session() throws -> PGConnection {
        if let connection { return connection }
        let sql = try PGConnection(context.configuration.dsn, logger: context.logger, interruption: interruption)
        do {
            try PublishedTable.prepareSession(sql)
        } catch {
            sql.close()
            throw error
        }
        connection = sql
        return sql
    }

    /// The published table `oid` names (the catalog read again for one not seen yet); nil when
    /// no publication of the stream publishes it.
    private func publishedTable(_ oid: UInt32) throws -> PublishedTable? {
        if let table = tables[oid] { return table }
        for table in try PublishedTable.list(context.configuration.publications, sql: try session()) {
            tables[table.oid] = table
        }
        return tables[oid]
    }
}
