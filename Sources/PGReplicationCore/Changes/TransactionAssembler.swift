import Foundation
import PGOutput

/// Turns pgoutput messages into ``PGChangeEvent``s: whole transactions (assembled delivery) or
/// begin / change batches / commit (chunked delivery). Streamed in-progress transactions are kept
/// per xid until Stream Commit, with the changes of rolled-back subtransactions dropped, or
/// passed on chunk by chunk with their aborts.
///
/// It owns the decoder, so it sees the decoder's relation cache and stream-block state.
package struct TransactionAssembler {

    private struct Open {
        var xid: UInt32
        var gid: String?
        var origin: String?
        var streamed: Bool
        var changes: ChangeSpool
    }

    package private(set) var decoder: PGOutputDecoder
    let delivery: PGChangeDelivery
    private var current: Open?
    private var streamed: [UInt32: Open] = [:]
    private var streamXID: UInt32?
    /// Chunked delivery: changes not yet passed on, and the (sub)transaction they belong to.
    private var batch: [PGChange] = []
    private var batchKey: (xid: UInt32, subxid: UInt32)?
    /// The table of the last change, until the next Relation message: consecutive changes mostly
    /// touch one table, and this spares a lookup and a `PGTable` copy per change.
    private var lastTable: PGTable?
    /// The last description of each table seen, kept across ``reset()`` and handed from one
    /// connection's assembler to the next, so that a reconnect's Relation messages are no schema
    /// change.
    package var knownTables: [UInt32: PGTable] = [:]
    /// Whether transactional logical decoding messages become changes; when not, they are left
    /// out (a stream asks the server for messages for its own watermarks and heartbeats).
    package var transactionalMessages = true
    /// Whether rows keep the tuple they were decoded from (`PGRow/tuple`).
    package var keepTuples = false
    /// Whether rows decode their values when made; without, they keep their tuple and decode a
    /// column when it is read.
    package var decodeValues = true
    /// Assembled delivery: bytes of changes (estimated) a transaction keeps in memory; the rest
    /// goes to a spill file in ``spillDirectory``.
    package var memoryLimit = 64 << 20
    /// Bytes of the budget left when a transaction starts (what the stream's buffer does not
    /// hold); nil: all of ``memoryLimit``.
    package var availableMemory: (() -> Int)?
    /// Where what the assembler passes over without an event is told (the stream's debug log).
    package var debugLog: ((String) -> Void)?
    package var spillDirectory = FileManager.default.temporaryDirectory.path
    /// Chunked delivery: the WAL position of each change in ``batch``.
    private var batchLSNs: [LSN] = []
    /// The WAL position of the message being fed.
    private var messageLSN: LSN = 0

    package init(decoder: PGOutputDecoder, delivery: PGChangeDelivery) {
        self.decoder = decoder
        if case .chunked(let size) = delivery, size < 1 {
            self.delivery = .chunked(batchSize: 1)
        } else {
            self.delivery = delivery
        }
    }

    /// Forgets everything in progress (a new walsender session resends what it needs).
    package mutating func reset() {
        decoder.reset()
        current = nil
        streamed = [:]
        streamXID = nil
        batch = []
        batchLSNs = []
        batchKey = nil
        lastTable = nil
    }

    /// How many changes are held in memory for transactions not yet delivered.
    package var heldChanges: Int {
        (current?.changes.heldInMemory ?? 0) + streamed.values.reduce(0) { $0 + $1.changes.heldInMemory }
            + batch.count
    }

    /// Whether a transaction that the server does not stream is between its Begin and its Commit
    /// (or Prepare): its changes, delivered or not, lie below positions confirmed before, so the
    /// stream holds flush forwarding meanwhile. A streamed transaction in progress does not count:
    /// its commit lies beyond every WAL end the server reported, so after a restart the server
    /// sends all of it again.
    package var hasOpenTransaction: Bool { current != nil }

    /// The transactions begun and not finished (the one between Begin and Commit, and the
    /// streamed ones in progress), in xid order.
    package var openTransactionXIDs: [UInt32] { ((current.map { [$0.xid] } ?? []) + streamed.keys).sorted() }

    package var isChunked: Bool {
        if case .chunked = delivery { return true }
        return false
    }

    /// Feeds one pgoutput message; `lsn` is where the server sent it (its XLogData start: a
    /// change's own WAL position), kept for chunked batches (`PGChangeBatch/lsns`). Returns
    /// ``hasOpenTransaction`` after it: read here, in the mutating access, because reading the
    /// property of an assembler that a closure captured copies the whole assembler first.
    @discardableResult
    package mutating func feed(
        _ payload: UnsafeRawBufferPointer, lsn: LSN = 0, owner: AnyObject? = nil, emit: (PGChangeEvent) throws -> Void
    ) throws -> Bool {
        try feedMessage(payload, lsn: lsn, owner: owner, emit: emit)
        return hasOpenTransaction
    }

    private mutating func feedMessage(
        _ payload: UnsafeRawBufferPointer, lsn: LSN, owner: AnyObject?, emit: (PGChangeEvent) throws -> Void
    ) throws {
        messageLSN = lsn
        // A large tuple stays in the message's buffer when something keeps that alive.
        let message = try owner.map { try decoder.decode(payload, lendingFrom: $0) } ?? decoder.decode(payload)
        switch message {
        case .begin(let begin):
            current = Open(xid: begin.xid, streamed: false, changes: spool())
            if isChunked {
                try emit(
                    .begin(
                        PGTransactionBegin(
                            xid: begin.xid, finalLSN: begin.finalLSN, commitTime: begin.commitTime, isStreamed: false)))
            }
        case .beginPrepare(let begin):
            current = Open(xid: begin.xid, gid: begin.gid, streamed: false, changes: spool())
            if isChunked {
                try emit(
                    .begin(
                        PGTransactionBegin(
                            xid: begin.xid, finalLSN: begin.endLSN, commitTime: begin.prepareTime, isStreamed: false,
                            isPrepared: true)))
            }
        case .origin(let origin):
            if let xid = streamXID {
                streamed[xid]?.origin = origin.name
            } else {
                current?.origin = origin.name
            }
        case .relation(let relation):
            lastTable = nil
            let table = PGTable(relation)
            if let old = knownTables.updateValue(table, forKey: relation.oid), PGSchemaChange.differs(old, table) {
                // Changes of the old shape gathered for a chunked batch go out first.
                try flushBatch(emit: emit)
                try emit(.schemaChange(PGSchemaChange(old: old, new: table)))
            }
        case .type:
            lastTable = nil
        case .insert(let insert):
            let table = try table(insert.relationOID)
            let new = try PGRow(
                columns: table.columns, tuple: insert.newTuple, keepingTuple: keepTuples, decodingValues: decodeValues)
            try add(
                .insert(table: table, new: new), xid: insert.xid, emit: emit,
                source: .row(kind: 0x49, table: table, old: nil, oldIsKey: false, new: insert.newTuple),
                bytes: insert.newTuple.wireByteCount)
        case .update(let update):
            let table = try table(update.relationOID)
            let old = try update.oldTuple.map {
                try PGRow(
                    columns: table.columns, tuple: $0.tuple, keepingTuple: keepTuples, decodingValues: decodeValues)
            }
            let filled = update.newTupleFillingUnchangedToast
            let new =
                keepTuples || !decodeValues
                ? try PGRow(
                    columns: table.columns, tuple: filled, original: update.newTuple, decodingValues: decodeValues)
                : try PGRow(columns: table.columns, tuple: filled)
            try add(
                .update(table: table, old: old, oldIsKey: update.oldTuple?.kind == .key, new: new), xid: update.xid,
                emit: emit,
                source: .row(
                    kind: 0x55, table: table, old: update.oldTuple?.tuple, oldIsKey: update.oldTuple?.kind == .key,
                    new: filled),
                bytes: filled.wireByteCount + (update.oldTuple?.tuple.wireByteCount ?? 0))
        case .delete(let delete):
            let table = try table(delete.relationOID)
            let old = try PGRow(
                columns: table.columns, tuple: delete.oldTuple.tuple, keepingTuple: keepTuples,
                decodingValues: decodeValues)
            try add(
                .delete(table: table, old: old, oldIsKey: delete.oldTuple.kind == .key), xid: delete.xid, emit: emit,
                source: .row(
                    kind: 0x44, table: table, old: delete.oldTuple.tuple, oldIsKey: delete.oldTuple.kind == .key,
                    new: nil),
                bytes: delete.oldTuple.tuple.wireByteCount)
        case .truncate(let truncate):
            let tables = try truncate.relationOIDs.map { try table($0) }
            try add(
                .truncate(
                    tables: tables, cascade: truncate.options.contains(.cascade),
                    restartIdentity: truncate.options.contains(.restartIdentity)), xid: truncate.xid, emit: emit,
                source: .truncate(
                    tables, cascade: truncate.options.contains(.cascade),
                    restartIdentity: truncate.options.contains(.restartIdentity)),
                bytes: 64 * tables.count)
        case .message(let message):
            let decoded = PGLogicalDecodingMessage(
                isTransactional: message.isTransactional, lsn: message.lsn, prefix: message.prefix,
                content: message.content)
            if message.isTransactional {
                guard transactionalMessages else { return }
                try add(
                    .message(decoded), xid: message.xid, emit: emit, source: .message(decoded),
                    bytes: decoded.content.count + decoded.prefix.utf8.count)
            } else {
                try emit(.message(decoded))
            }
        case .commit(let commit):
            guard let open = current else { throw protocolViolation("Commit without Begin") }
            current = nil
            try finish(open, commitLSN: commit.commitLSN, endLSN: commit.endLSN, time: commit.commitTime, emit: emit)
        case .prepare(let prepare):
            guard let open = current else { throw protocolViolation("Prepare without Begin Prepare") }
            current = nil
            try finish(
                open, commitLSN: prepare.prepareLSN, endLSN: prepare.endLSN, time: prepare.prepareTime, emit: emit)
        case .commitPrepared(let commit):
            try emit(
                .commitPrepared(
                    PGCommitPrepared(
                        gid: commit.gid, xid: commit.xid, commitLSN: commit.commitLSN, endLSN: commit.endLSN,
                        commitTime: commit.commitTime)))
        case .rollbackPrepared(let rollback):
            try emit(
                .rollbackPrepared(
                    PGRollbackPrepared(
                        gid: rollback.gid, xid: rollback.xid, endLSN: rollback.rollbackEndLSN,
                        rollbackTime: rollback.rollbackTime)))
        case .streamStart(let start):
            streamXID = start.xid
            if streamed[start.xid] == nil {
                streamed[start.xid] = Open(xid: start.xid, streamed: true, changes: spool())
                if isChunked {
                    try emit(.begin(PGTransactionBegin(xid: start.xid, finalLSN: 0, commitTime: nil, isStreamed: true)))
                }
            }
        case .streamStop:
            try flushBatch(emit: emit)
            streamXID = nil
        case .streamCommit(let commit):
            guard let open = streamed.removeValue(forKey: commit.xid) else {
                throw protocolViolation("Stream Commit for transaction \(commit.xid), which was never started")
            }
            try finish(open, commitLSN: commit.commitLSN, endLSN: commit.endLSN, time: commit.commitTime, emit: emit)
        case .streamPrepare(let prepare):
            guard var open = streamed.removeValue(forKey: prepare.xid) else {
                throw protocolViolation("Stream Prepare for transaction \(prepare.xid), which was never started")
            }
            open.gid = prepare.gid
            try finish(
                open, commitLSN: prepare.prepareLSN, endLSN: prepare.endLSN, time: prepare.prepareTime, emit: emit)
        case .streamAbort(let abort):
            guard streamed[abort.xid] != nil else {
                // PostgreSQL 18 sends Stream Abort for transactions it never streamed (also
                // without streaming): nothing of it was passed on, so nothing is to undo.
                debugLog?("ignored a Stream Abort for transaction \(abort.xid), which was never streamed")
                return
            }
            if abort.abortsWholeTransaction {
                streamed[abort.xid] = nil
            } else {
                streamed[abort.xid]?.changes.abort(abort.subtransactionXID)
            }
            if isChunked {
                try emit(
                    .abort(
                        PGTransactionAbort(
                            xid: abort.xid, subtransactionXID: abort.subtransactionXID, abortLSN: abort.abortLSN,
                            abortTime: abort.abortTime)))
            }
        }
    }

    private mutating func table(_ oid: UInt32) throws -> PGTable {
        if let lastTable, lastTable.oid == oid { return lastTable }
        guard let relation = decoder.relation(for: oid) else {
            throw protocolViolation("a change for relation \(oid), which no Relation message described")
        }
        let table = PGTable(relation)
        lastTable = table
        return table
    }

    /// A new spool of the configured budget.
    private func spool() -> ChangeSpool {
        let limit = availableMemory.map { max(0, min(memoryLimit, $0())) } ?? memoryLimit
        return ChangeSpool(limit: limit, directory: spillDirectory)
    }

    /// Adds a change to its transaction; `source` (what it was decoded from) and `bytes` (its
    /// estimated size) are for the spool of assembled delivery.
    private mutating func add(
        _ change: consuming PGChange, xid: UInt32?, emit: (PGChangeEvent) throws -> Void,
        source: @autoclosure () -> ChangeSpool.Source, bytes: Int
    ) throws {
        // A decoded row takes several times its wire size in memory (measured: about 6 times,
        // with its values' own allocations, for the benchmark's 8 mixed columns).
        let estimate = 6 * bytes + 256
        if let streamXID {
            let subxid = xid ?? streamXID
            if case .chunked(let size) = delivery {
                if let key = batchKey, key.xid != streamXID || key.subxid != subxid { try flushBatch(emit: emit) }
                batchKey = (streamXID, subxid)
                batch.append(change)
                batchLSNs.append(messageLSN)
                if batch.count >= size { try flushBatch(emit: emit) }
            } else {
                guard streamed[streamXID] != nil else {
                    throw protocolViolation("a streamed change outside a started stream")
                }
                try streamed[streamXID]?.changes.append(subxid: subxid, change, source: source, bytes: estimate)
            }
            return
        }
        guard current != nil else { throw protocolViolation("a change outside a transaction") }
        if case .chunked(let size) = delivery, let xid = current?.xid {
            batchKey = (xid, xid)
            batch.append(change)
            batchLSNs.append(messageLSN)
            if batch.count >= size { try flushBatch(emit: emit) }
        } else {
            try current?.changes.append(subxid: 0, change, source: source, bytes: estimate)
        }
    }

    private mutating func flushBatch(emit: (PGChangeEvent) throws -> Void) throws {
        guard let key = batchKey, !batch.isEmpty else { return }
        let changes = batch
        let lsns = batchLSNs
        batchLSNs = []
        batchLSNs.reserveCapacity(lsns.count)
        // The next batch starts at this one's size (a large transaction's batches are full):
        // growing to it by doubling would copy every change about once more. Reserving the full
        // batch size for small transactions would hold that much memory per buffered event.
        batch = []
        batch.reserveCapacity(changes.count)
        batchKey = nil
        try emit(.changes(PGChangeBatch(xid: key.xid, subtransactionXID: key.subxid, changes: changes, lsns: lsns)))
    }

    private mutating func finish(
        _ open: Open, commitLSN: LSN, endLSN: LSN, time: PostgresTimestamp, emit: (PGChangeEvent) throws -> Void
    ) throws {
        let kind: PGTransaction.Kind = open.gid.map { .prepare(gid: $0) } ?? .commit
        var transaction = PGTransaction(
            kind: kind, xid: open.xid, commitLSN: commitLSN, endLSN: endLSN, commitTime: time, origin: open.origin,
            isStreamed: open.streamed, changes: [])
        if isChunked {
            try flushBatch(emit: emit)
            try emit(.commit(transaction))
        } else {
            var changes = open.changes
            transaction.changes = try changes.list(keepTuples: keepTuples, decodeValues: decodeValues)
            try emit(.transaction(transaction))
        }
    }

    private func protocolViolation(_ what: String) -> PGError {
        PGError(.operational, "unexpected pgoutput stream: \(what)")
    }
}
