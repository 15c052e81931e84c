import PGOutput

/// The DBLog rule of a backfill, as a value: the changes the stream delivers go in
/// (``observe(_:)``), the chunk's low watermark when the stream reaches it
/// (``lowWatermark(sequence:)``), the chunk's keys and the snapshot its read used when it is read
/// (``chunkRead(sequence:keys:snapshot:)``), and at the chunk's high watermark out comes the
/// decision (``settle(sequence:)``): deliver the rows no change touched, or read the chunk again.
///
/// A chunk's window opens at its low watermark and closes at its high watermark. A change
/// delivered in it is as new as the chunk's copy of its row or newer. So is a change delivered
/// before the window whose transaction the chunk's read could not see yet: its commit reaches the
/// stream before other sessions see it (while the commit waits for a synchronous standby, or
/// between the commit record's flush and the server's update of its running transactions). Rows
/// either kind touched are left out of the chunk, so no row goes back in time. The rules:
/// - An insert, update (old and new key) or delete of the table touches its key. A truncate of
///   the table touches every row.
/// - A transaction delivered in pieces (streamed, or chunked delivery) or prepared counts at its
///   commit (or its `COMMIT PREPARED`) and is void at its abort or rollback; an aborted
///   subtransaction's changes are void.
/// - A transaction of the table delivered before the window counts when the chunk's snapshot
///   does not see it. One the snapshot sees is seen by every later chunk's too, and is forgotten.
/// - A change whose key cannot be read (an unchanged TOASTed key value, or a key column left
///   out) cannot be matched: the chunk is read again.
/// - A transaction already open or prepared when tracking began may have delivered changes before
///   it, unseen: if it counts for the chunk, the chunk is read again.
/// - A transaction committed before tracking began is not in the record at all: the backfill
///   waits until the last ``recentCapacity`` of them (``committedBeforeTracking``) are visible
///   before it reads the table's first chunk.
///
/// Without a snapshot (`chunkRead(sequence:keys:snapshot:)` with nil) only the window counts:
/// that is DBLog's rule alone, which loses rows to a commit not yet visible; tests use it to show
/// that.
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
        /// Read the chunk again: a transaction that counts for it cannot be matched against it.
        case readAgain(ReadAgain)
    }

    /// Why a chunk is read again.
    package enum ReadAgain: Hashable, Sendable {
        /// A change of the table whose key could not be read (an unchanged TOASTed key value).
        case unreadableKey
        /// A transaction open or prepared when the table's tracking began committed in the window.
        case transactionBegunBefore
    }

    /// What a committed transaction did to the tracked table.
    private struct Committed {
        var keys: Set<[PGValue]> = []
        var truncated = false
        var readAgain: ReadAgain?
        /// Delivered after the chunk's low watermark.
        var inWindow = false

        mutating func merge(_ other: Committed) {
            keys.formUnion(other.keys)
            truncated = truncated || other.truncated
            readAgain = readAgain ?? other.readAgain
            inWindow = inWindow || other.inWindow
        }
    }

    /// The table tracked, nil when none is.
    package private(set) var table: Table?
    /// Transactions begun and not finished (chunked or streamed delivery).
    private var open: Set<UInt32> = []
    /// Transactions prepared and not yet committed or rolled back.
    private var prepared: Set<UInt32> = []
    /// Transactions of the table delivered since tracking began that no chunk's snapshot has
    /// been shown to see yet, by ID.
    private var committed: [UInt32: Committed] = [:]
    /// The stream passed the low watermark of this chunk: its window is open.
    private var low: Int?
    /// What transactions delivered but not committed did: xid → subtransaction → what.
    private var pending: [UInt32: [UInt32: Committed]] = [:]
    /// Transactions open or prepared when tracking began.
    private var unknown: Set<UInt32> = []
    /// The chunk read and waiting for its high watermark.
    private var chunk: (sequence: Int, keys: [[PGValue]], snapshot: ServerSnapshot?)?
    /// The IDs of the last ``recentCapacity`` transactions committed, tracking or not.
    private var recent: [UInt32] = []
    private var recentNext = 0
    /// How many committed transactions' IDs are kept for ``committedBeforeTracking``.
    package static let recentCapacity = 65_536
    /// The IDs of the last transactions committed before tracking began (``recentCapacity`` at
    /// most): what they did is not in the window's record, so the backfill waits until every one
    /// of them is visible before it reads a chunk.
    package private(set) var committedBeforeTracking: [UInt32] = []

    package init() {}

    /// Starts tracking `table`.
    package mutating func track(_ table: Table) {
        self.table = table
        committed = [:]
        low = nil
        pending = [:]
        chunk = nil
        unknown = open.union(prepared)
        committedBeforeTracking = recent
    }

    /// Stops tracking (the table's last chunk was delivered, or the backfill ended).
    package mutating func untrack() {
        table = nil
        chunk = nil
        low = nil
        committed = [:]
        pending = [:]
        unknown = []
        committedBeforeTracking = []
    }

    /// The stream reached the low watermark of chunk `sequence`: its window opens.
    package mutating func lowWatermark(sequence: Int) {
        guard table != nil else { return }
        low = sequence
    }

    /// A chunk was read (after its low watermark); `keys` are its rows' keys, in its order, as the
    /// stream's changes carry them, and `snapshot` what its read saw.
    package mutating func chunkRead(sequence: Int, keys: [[PGValue]], snapshot: ServerSnapshot?) {
        chunk = (sequence, keys, snapshot)
    }

    /// The chunk in flight is dropped (its read failed, or it will be read again).
    package mutating func dropChunk() {
        chunk = nil
    }

    /// The stream reached the high watermark of chunk `sequence`: what to do with it, or nil when
    /// it is not the chunk in flight (a watermark from before, or one already settled).
    package mutating func settle(sequence: Int) -> Settlement? {
        guard let chunk, chunk.sequence == sequence, table != nil else { return nil }
        self.chunk = nil
        let snapshot = chunk.snapshot
        var touched: Set<[PGValue]> = []
        var truncated = false
        var readAgain: ReadAgain?
        // Every transaction here lies before the next chunk's window; only those this snapshot
        // does not see can count for it, and they are kept.
        var unseenByThisChunk: [UInt32: Committed] = [:]
        for (xid, transaction) in committed {
            let unseen = snapshot?.sees(xid) == false
            if transaction.inWindow || unseen {
                touched.formUnion(transaction.keys)
                truncated = truncated || transaction.truncated
                readAgain = readAgain ?? transaction.readAgain
            }
            if unseen {
                var kept = transaction
                kept.inWindow = false
                unseenByThisChunk[xid] = kept
            }
        }
        committed = unseenByThisChunk
        low = nil
        if let readAgain { return .readAgain(readAgain) }
        if truncated { return .deliver(keeping: []) }
        return .deliver(keeping: chunk.keys.indices.filter { !touched.contains(chunk.keys[$0]) })
    }

    /// Notes an event the stream delivers, before it is delivered.
    package mutating func observe(_ event: PGChangeEvent) {
        switch event {
        case .begin(let begin):
            open.insert(begin.xid)
        case .transaction(let transaction), .commit(let transaction):
            // A whole transaction (assembled delivery) was never open here.
            open.remove(transaction.xid)
            if case .prepare = transaction.kind {
                prepared.insert(transaction.xid)
            } else {
                remember(transaction.xid)
            }
        case .abort(let abort) where abort.abortsWholeTransaction:
            open.remove(abort.xid)
        case .commitPrepared(let commit):
            prepared.remove(commit.xid)
            remember(commit.xid)
        case .rollbackPrepared(let rollback):
            prepared.remove(rollback.xid)
        default:
            break
        }
        guard table != nil else { return }
        switch event {
        case .transaction(let transaction):
            var touched = Committed()
            for change in transaction.changes { note(change, in: &touched) }
            if case .prepare = transaction.kind {
                // It counts at its COMMIT PREPARED.
                pending[transaction.xid, default: [:]][transaction.xid, default: Committed()].merge(touched)
            } else {
                record(transaction.xid, touched)
            }
        case .changes(let batch):
            var touched = pending[batch.xid]?[batch.subtransactionXID] ?? Committed()
            for change in batch.changes { note(change, in: &touched) }
            pending[batch.xid, default: [:]][batch.subtransactionXID] = touched
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

    private mutating func remember(_ xid: UInt32) {
        if recent.count < Self.recentCapacity {
            recent.append(xid)
        } else {
            recent[recentNext] = xid
            recentNext = (recentNext + 1) % Self.recentCapacity
        }
    }

    /// A transaction delivered in pieces or prepared committed: what it did counts from here.
    private mutating func commit(_ xid: UInt32) {
        var touched = Committed()
        if unknown.remove(xid) != nil { touched.readAgain = .transactionBegunBefore }
        for part in (pending.removeValue(forKey: xid) ?? [:]).values { touched.merge(part) }
        record(xid, touched)
    }

    /// Keeps what the committed transaction `xid` did to the table, in the window or before it.
    private mutating func record(_ xid: UInt32, _ touched: Committed) {
        guard !touched.keys.isEmpty || touched.truncated || touched.readAgain != nil else { return }
        var touched = touched
        touched.inWindow = low != nil
        committed[xid, default: Committed()].merge(touched)
    }

    /// Notes the keys `change` touches in the tracked table (the old key and the new one of an
    /// update), a truncate of the table, or a key that cannot be read.
    private func note(_ change: PGChange, in touched: inout Committed) {
        guard let table else { return }
        func key(_ row: PGRow) {
            var values: [PGValue] = []
            values.reserveCapacity(table.key.count)
            for column in table.key {
                guard let value = row[column], value != .unchangedToast else {
                    touched.readAgain = touched.readAgain ?? .unreadableKey
                    return
                }
                values.append(value)
            }
            touched.keys.insert(values)
        }
        switch change {
        case .insert(let changed, let new) where changed.oid == table.oid:
            key(new)
        case .update(let changed, let old, _, let new) where changed.oid == table.oid:
            key(new)
            if let old { key(old) }
        case .delete(let changed, let old, _) where changed.oid == table.oid:
            key(old)
        case .truncate(let tables, _, _) where tables.contains(where: { $0.oid == table.oid }):
            touched.truncated = true
        default:
            break
        }
    }
}
