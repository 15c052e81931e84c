import PGOutput

/// The DBLog rule of a backfill, as a value: the changes the stream delivers go in
/// (``observe(_:)``), a chunk's keys go in when it is read (``chunkRead(sequence:keys:)``), and
/// at the chunk's high watermark out comes the decision (``settle(sequence:)``): deliver the rows
/// no change in the window touched, or read the chunk again.
///
/// The window of a chunk opens at the previous chunk's high watermark (or where the table's
/// tracking began, ``track(_:)``) and closes at its own high watermark. A change delivered in it
/// is as new as the chunk's copy of its row or newer, so the row is left out of the chunk and no
/// row goes back in time. The rules:
/// - An insert, update (old and new key) or delete of the table touches its key. A truncate of
///   the table touches every row.
/// - A transaction delivered in pieces (streamed, or chunked delivery) or prepared counts at its
///   commit (or its `COMMIT PREPARED`) and is void at its abort or rollback; an aborted
///   subtransaction's changes are void.
/// - A change whose key cannot be read (an unchanged TOASTed key value, or a key column left
///   out) cannot be matched: the chunk is read again.
/// - A transaction already open or prepared when tracking began may have delivered changes before
///   it, unseen: if it commits in the window, the chunk is read again.
///
/// `FeedbackMachine` is the model: no I/O, no clock, no lock. The backfill coordinator keeps one
/// in its lock and feeds it from the I/O thread and the backfill thread.
package struct BackfillWindow: Sendable {
    /// The table being copied: its OID and its key columns, in the chunks' order.
    package struct Table: Hashable, Sendable {
        package var oid: UInt32
        package var key: [String]

        package init(oid: UInt32, key: [String]) {
            self.oid = oid
            self.key = key
        }
    }

    /// What to do with a chunk at its high watermark.
    package enum Settlement: Hashable, Sendable {
        /// Deliver the rows at these positions of the chunk, in order; the others were touched.
        case deliver(keeping: [Int])
        /// Read the chunk again: its window holds a change it cannot be matched against.
        case readAgain(ReadAgain)
    }

    /// Why a chunk is read again.
    package enum ReadAgain: Hashable, Sendable {
        /// A change of the table whose key could not be read (an unchanged TOASTed key value).
        case unreadableKey
        /// A transaction open or prepared when the table's tracking began committed in the window.
        case transactionBegunBefore
    }

    /// The table tracked, nil when none is.
    package private(set) var table: Table?
    /// Transactions begun and not finished (chunked or streamed delivery).
    private var open: Set<UInt32> = []
    /// Transactions prepared and not yet committed or rolled back.
    private var prepared: Set<UInt32> = []
    /// Keys that changes delivered in the current window touched.
    private var touched: Set<[PGValue]> = []
    /// A truncate of the table was delivered in the window.
    private var truncated = false
    /// The first reason met in the window to read the chunk again.
    private var readAgain: ReadAgain?
    /// Keys of transactions delivered but not committed: xid → subtransaction → keys.
    private var pending: [UInt32: [UInt32: Set<[PGValue]>]] = [:]
    /// Transactions open or prepared when tracking began.
    private var unknown: Set<UInt32> = []
    /// The chunk read and waiting for its high watermark.
    private var chunk: (sequence: Int, keys: [[PGValue]])?

    package init() {}

    /// Starts tracking `table`: its first chunk's window opens here.
    package mutating func track(_ table: Table) {
        self.table = table
        touched = []
        truncated = false
        readAgain = nil
        pending = [:]
        chunk = nil
        unknown = open.union(prepared)
    }

    /// Stops tracking (the table's last chunk was delivered, or the backfill ended).
    package mutating func untrack() {
        table = nil
        chunk = nil
        pending = [:]
        unknown = []
    }

    /// A chunk was read (after its low watermark); `keys` are its rows' keys, in its order, as the
    /// stream's changes carry them.
    package mutating func chunkRead(sequence: Int, keys: [[PGValue]]) {
        chunk = (sequence, keys)
    }

    /// The chunk in flight is dropped (its read failed, or it will be read again).
    package mutating func dropChunk() {
        chunk = nil
    }

    /// The stream reached the high watermark of chunk `sequence`: what to do with it, or nil when
    /// it is not the chunk in flight (a watermark from before, or one already settled). The next
    /// chunk's window opens here.
    package mutating func settle(sequence: Int) -> Settlement? {
        guard let chunk, chunk.sequence == sequence, table != nil else { return nil }
        self.chunk = nil
        defer {
            touched = []
            truncated = false
            readAgain = nil
        }
        if let readAgain { return .readAgain(readAgain) }
        if truncated { return .deliver(keeping: []) }
        return .deliver(keeping: chunk.keys.indices.filter { !touched.contains(chunk.keys[$0]) })
    }

    /// Notes an event the stream delivers, before it is delivered.
    package mutating func observe(_ event: PGChangeEvent) {
        switch event {
        case .begin(let begin):
            open.insert(begin.xid)
        case .transaction(let transaction):
            if case .prepare = transaction.kind { prepared.insert(transaction.xid) }
        case .commit(let transaction):
            open.remove(transaction.xid)
            if case .prepare = transaction.kind { prepared.insert(transaction.xid) }
        case .abort(let abort) where abort.abortsWholeTransaction:
            open.remove(abort.xid)
        case .commitPrepared(let commit):
            prepared.remove(commit.xid)
        case .rollbackPrepared(let rollback):
            prepared.remove(rollback.xid)
        default:
            break
        }
        guard table != nil else { return }
        switch event {
        case .transaction(let transaction):
            let isPrepare: Bool
            if case .prepare = transaction.kind { isPrepare = true } else { isPrepare = false }
            for change in transaction.changes {
                for key in keys(of: change) {
                    if isPrepare {
                        pending[transaction.xid, default: [:]][transaction.xid, default: []].insert(key)
                    } else {
                        touched.insert(key)
                    }
                }
            }
        case .changes(let batch):
            for change in batch.changes {
                for key in keys(of: change) {
                    pending[batch.xid, default: [:]][batch.subtransactionXID, default: []].insert(key)
                }
            }
        case .commit(let transaction):
            if case .prepare = transaction.kind { return }
            commit(transaction.xid)
        case .commitPrepared(let prepared):
            commit(prepared.xid)
        case .rollbackPrepared(let rollback):
            pending[rollback.xid] = nil
            unknown.remove(rollback.xid)
        case .abort(let abort):
            if abort.abortsWholeTransaction {
                pending[abort.xid] = nil
                unknown.remove(abort.xid)
            } else {
                pending[abort.xid]?[abort.subtransactionXID] = nil
            }
        case .begin, .message, .snapshot, .schemaChange, .stalled:
            break
        }
    }

    private mutating func commit(_ xid: UInt32) {
        if unknown.remove(xid) != nil { readAgain = readAgain ?? .transactionBegunBefore }
        guard let keys = pending.removeValue(forKey: xid) else { return }
        for set in keys.values { touched.formUnion(set) }
    }

    /// The keys `change` touches in the tracked table (the old key and the new one of an update);
    /// a truncate of the table, or a key that cannot be read, is noted.
    private mutating func keys(of change: PGChange) -> [[PGValue]] {
        guard let table else { return [] }
        var keys: [[PGValue]] = []
        func key(_ row: PGRow, _ readAgain: inout ReadAgain?) {
            var values: [PGValue] = []
            values.reserveCapacity(table.key.count)
            for column in table.key {
                guard let value = row[column], value != .unchangedToast else {
                    readAgain = readAgain ?? .unreadableKey
                    return
                }
                values.append(value)
            }
            keys.append(values)
        }
        switch change {
        case .insert(let changed, let new) where changed.oid == table.oid:
            key(new, &readAgain)
        case .update(let changed, let old, _, let new) where changed.oid == table.oid:
            key(new, &readAgain)
            if let old { key(old, &readAgain) }
        case .delete(let changed, let old, _) where changed.oid == table.oid:
            key(old, &readAgain)
        case .truncate(let tables, _, _) where tables.contains(where: { $0.oid == table.oid }):
            truncated = true
        default:
            break
        }
        return keys
    }
}
