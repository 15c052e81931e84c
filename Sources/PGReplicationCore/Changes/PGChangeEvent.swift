import PGOutput

/// A table as the change stream knows it from the server's last Relation message.
public struct PGTable: Hashable, Sendable {
    public var oid: UInt32
    public var schema: String
    public var name: String
    public var replicaIdentity: PGOutputMessage.Relation.ReplicaIdentity
    public var columns: [RelationColumn]

    /// The names of the replica-identity key columns.
    public var keyColumns: [String] { columns.filter(\.isKey).map(\.name) }

    /// `schema.name`.
    public var qualifiedName: String { "\(schema).\(name)" }

    init(_ relation: PGOutputMessage.Relation) {
        self.oid = relation.oid
        self.schema = relation.namespace.isEmpty ? "pg_catalog" : relation.namespace
        self.name = relation.name
        self.replicaIdentity = relation.replicaIdentity
        self.columns = relation.columns
    }

    public init(
        oid: UInt32, schema: String, name: String, replicaIdentity: PGOutputMessage.Relation.ReplicaIdentity = .default,
        columns: [RelationColumn]
    ) {
        self.oid = oid
        self.schema = schema
        self.name = name
        self.replicaIdentity = replicaIdentity
        self.columns = columns
    }
}

/// One row change, with typed rows.
public enum PGChange: Hashable, Sendable {
    /// A new row.
    case insert(table: PGTable, new: PGRow)
    /// A changed row. `old` is the key columns (`oldIsKey`) or the whole old row (REPLICA
    /// IDENTITY FULL), when the server sent it. Unchanged TOASTed values in `new` are filled from
    /// `old` when it has them; otherwise they read as `.unchangedToast`.
    case update(table: PGTable, old: PGRow?, oldIsKey: Bool, new: PGRow)
    /// A removed row: its key columns (`oldIsKey`) or the whole row (REPLICA IDENTITY FULL).
    case delete(table: PGTable, old: PGRow, oldIsKey: Bool)
    /// TRUNCATE of one or more tables.
    case truncate(tables: [PGTable], cascade: Bool, restartIdentity: Bool)
    /// A transactional logical decoding message (`pg_logical_emit_message(true, …)`).
    case message(PGLogicalDecodingMessage)

    /// The table changed (the first, for a truncate); nil for a message.
    public var table: PGTable? {
        switch self {
        case .insert(let table, _), .update(let table, _, _, _), .delete(let table, _, _): return table
        case .truncate(let tables, _, _): return tables.first
        case .message: return nil
        }
    }
}

/// A logical decoding message (`pg_logical_emit_message`).
public struct PGLogicalDecodingMessage: Hashable, Sendable {
    /// Whether it was written inside its transaction (`pg_logical_emit_message(true, …)`).
    public var isTransactional: Bool
    public var lsn: LSN
    public var prefix: String
    public var content: [UInt8]

    public init(isTransactional: Bool, lsn: LSN, prefix: String, content: [UInt8]) {
        self.isTransactional = isTransactional
        self.lsn = lsn
        self.prefix = prefix
        self.content = content
    }
}

/// A committed (or prepared) transaction with its changes, in commit order.
public struct PGTransaction: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// An ordinary commit (streamed or not).
        case commit
        /// PREPARE TRANSACTION on a two-phase stream; COMMIT/ROLLBACK PREPARED follow as events.
        case prepare(gid: String)
    }

    public var kind: Kind
    public var xid: UInt32
    /// The commit (or prepare) record's LSN.
    public var commitLSN: LSN
    /// The end of the transaction's commit record: the position to acknowledge and to resume after.
    public var endLSN: LSN
    public var commitTime: PostgresTimestamp
    /// The replication origin the transaction came from, if any.
    public var origin: String?
    /// Whether the server streamed it while in progress (it was larger than
    /// `logical_decoding_work_mem`).
    public var isStreamed: Bool
    /// The changes, in order; past the stream's memory budget they are read back from a
    /// temporary file as they are iterated (``PGChangeList``).
    public var changes: PGChangeList

    public init(
        kind: Kind, xid: UInt32, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp, origin: String?,
        isStreamed: Bool, changes: [PGChange]
    ) {
        self.init(
            kind: kind, xid: xid, commitLSN: commitLSN, endLSN: endLSN, commitTime: commitTime, origin: origin,
            isStreamed: isStreamed, changes: PGChangeList(changes))
    }

    public init(
        kind: Kind, xid: UInt32, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp, origin: String?,
        isStreamed: Bool, changes: PGChangeList
    ) {
        self.kind = kind
        self.xid = xid
        self.commitLSN = commitLSN
        self.endLSN = endLSN
        self.commitTime = commitTime
        self.origin = origin
        self.isStreamed = isStreamed
        self.changes = changes
    }
}

/// What a `ChangeStream` delivers.
public enum PGChangeEvent: Hashable, Sendable {
    /// A whole committed transaction (the default, assembled delivery).
    case transaction(PGTransaction)
    /// Chunked delivery: a transaction begins (`streamed` transactions may interleave with others).
    case begin(PGTransactionBegin)
    /// Chunked delivery: changes of an open transaction, in order. `subtransactionXID` is the
    /// (sub)transaction that made them, for matching an ``abort(_:)``.
    case changes(PGChangeBatch)
    /// Chunked delivery: the transaction committed (or prepared); its changes were delivered before.
    case commit(PGTransaction)
    /// Chunked delivery: a streamed transaction, or one of its subtransactions, rolled back, or
    /// the connection ended in the middle of a transaction (the server sends it again from its
    /// begin): drop the changes delivered for it.
    case abort(PGTransactionAbort)
    /// A non-transactional logical decoding message.
    case message(PGLogicalDecodingMessage)
    /// Rows copied from a table: by the initial snapshot (`ChangeStream/Configuration/initialSnapshot`),
    /// or one chunk of a backfill (``PGSnapshotBatch/backfill`` is set), delivered at the chunk's
    /// high watermark.
    case snapshot(PGSnapshotBatch)
    /// A published table's columns changed: delivered before the first change with the new shape.
    case schemaChange(PGSchemaChange)
    /// The heartbeat (`ChangeStream.Configuration.heartbeat`) is overdue: the stream is connected
    /// but the server sends nothing. Delivered once per stall, while it lasts.
    case stalled(PGStreamStall)
    /// Two-phase: a prepared transaction was committed.
    case commitPrepared(PGCommitPrepared)
    /// Two-phase: a prepared transaction was rolled back. Drop what was delivered for it at
    /// PREPARE: when the rollback happened while the server was still decoding the transaction,
    /// that delivery was incomplete (PostgreSQL 15–17 stop at the concurrent abort) or had no
    /// changes at all (18 does not decode what it knows was rolled back).
    case rollbackPrepared(PGRollbackPrepared)

    /// The position to acknowledge once the event is handled, when it completes something.
    public var acknowledgeLSN: LSN? {
        switch self {
        case .transaction(let transaction), .commit(let transaction): return transaction.endLSN
        case .message(let message): return message.lsn
        case .commitPrepared(let commit): return commit.endLSN
        case .rollbackPrepared(let rollback): return rollback.endLSN
        case .snapshot(let batch): return batch.backfill?.highWatermark
        case .begin, .changes, .abort, .schemaChange, .stalled: return nil
        }
    }
}

/// The start of a transaction in chunked delivery.
public struct PGTransactionBegin: Hashable, Sendable {
    public var xid: UInt32
    /// The final LSN of the transaction (zero for streamed transactions, not known yet).
    public var finalLSN: LSN
    public var commitTime: PostgresTimestamp?
    /// Whether the server streams it while in progress (its changes may interleave with others').
    public var isStreamed: Bool
    /// Whether it is a prepared transaction's (`BEGIN PREPARE`): it ends with a prepare, and
    /// commits later, if ever, with `COMMIT PREPARED`.
    public var isPrepared: Bool

    public init(
        xid: UInt32, finalLSN: LSN, commitTime: PostgresTimestamp?, isStreamed: Bool, isPrepared: Bool = false
    ) {
        self.xid = xid
        self.finalLSN = finalLSN
        self.commitTime = commitTime
        self.isStreamed = isStreamed
        self.isPrepared = isPrepared
    }
}

/// A batch of changes of one open transaction in chunked delivery.
public struct PGChangeBatch: Hashable, Sendable {
    public var xid: UInt32
    public var subtransactionXID: UInt32
    public var changes: [PGChange]
    /// The WAL position of each change (where the server sent it), in order; empty when not known.
    public var lsns: [LSN]

    public init(xid: UInt32, subtransactionXID: UInt32, changes: [PGChange], lsns: [LSN] = []) {
        self.xid = xid
        self.subtransactionXID = subtransactionXID
        self.changes = changes
        self.lsns = lsns
    }
}

/// The rollback of a streamed transaction or of one of its subtransactions, or, in chunked
/// delivery, the end of a connection in the middle of a transaction (``Reason/interrupted``).
public struct PGTransactionAbort: Hashable, Sendable {
    /// Why the changes delivered for the transaction are void.
    public enum Reason: Hashable, Sendable {
        /// The server rolled the transaction (or the subtransaction) back.
        case rolledBack
        /// The stream's connection ended before the transaction did; the server sends the whole
        /// transaction again from its begin.
        case interrupted
    }

    public var xid: UInt32
    public var subtransactionXID: UInt32
    public var reason: Reason
    /// The LSN of the abort record: sent with `streaming = .parallel` (protocol 4) only.
    public var abortLSN: LSN?
    /// When the (sub)transaction aborted: sent with `streaming = .parallel` (protocol 4) only.
    public var abortTime: PostgresTimestamp?
    /// Whether the whole transaction is void, not one of its subtransactions.
    public var abortsWholeTransaction: Bool { xid == subtransactionXID }

    public init(
        xid: UInt32, subtransactionXID: UInt32, reason: Reason = .rolledBack, abortLSN: LSN? = nil,
        abortTime: PostgresTimestamp? = nil
    ) {
        self.xid = xid
        self.subtransactionXID = subtransactionXID
        self.reason = reason
        self.abortLSN = abortLSN
        self.abortTime = abortTime
    }
}

/// Rows of one table copied by the initial snapshot, or one chunk of a backfill.
public struct PGSnapshotBatch: Hashable, Sendable {
    public var table: PGTable
    public var rows: [PGRow]
    /// Whether this is the table's last batch.
    public var isLast: Bool
    /// For a backfill chunk: where it stands, and what to persist to resume it; nil for the
    /// initial snapshot.
    public var backfill: PGBackfillProgress?
    /// For the initial snapshot: the point in the stream it shows; nil for a backfill chunk.
    public var point: PGSnapshotPoint?
    /// Whether its first row is the initial snapshot's first row (of its first table).
    public var startsSnapshot: Bool
    /// Whether its last row is the initial snapshot's last row (no later table has rows).
    public var endsSnapshot: Bool

    public init(
        table: PGTable, rows: [PGRow], isLast: Bool, backfill: PGBackfillProgress? = nil,
        point: PGSnapshotPoint? = nil, startsSnapshot: Bool = false, endsSnapshot: Bool = false
    ) {
        self.table = table
        self.rows = rows
        self.isLast = isLast
        self.backfill = backfill
        self.point = point
        self.startsSnapshot = startsSnapshot
        self.endsSnapshot = endsSnapshot
    }
}

/// Where an initial snapshot stands in the stream: it shows every transaction committed before
/// the slot's consistent point, and streaming starts there.
public struct PGSnapshotPoint: Hashable, Sendable {
    /// The slot's consistent point.
    public var lsn: LSN
    /// The snapshot's xmax (`txid_snapshot_xmax`, epoch included): the first transaction id it
    /// does not see.
    public var xmax: UInt64

    public init(lsn: LSN, xmax: UInt64) {
        self.lsn = lsn
        self.xmax = xmax
    }
}

/// How a change stream delivers transactions.
public enum PGChangeDelivery: Hashable, Sendable {
    /// Whole transactions (``PGChangeEvent/transaction(_:)``); streamed ones are assembled in memory.
    case assembled
    /// ``PGChangeEvent/begin(_:)``, batches of at most `batchSize` changes (at least 1), then
    /// ``PGChangeEvent/commit(_:)`` (or ``PGChangeEvent/abort(_:)``): no transaction is held whole.
    case chunked(batchSize: Int)
}

/// Two-phase: `COMMIT PREPARED` of a transaction delivered at its PREPARE.
public struct PGCommitPrepared: Hashable, Sendable {
    /// The global transaction identifier given to `PREPARE TRANSACTION`.
    public var gid: String
    public var xid: UInt32
    public var commitLSN: LSN
    /// The end of the commit record: the position to acknowledge.
    public var endLSN: LSN
    public var commitTime: PostgresTimestamp

    public init(gid: String, xid: UInt32, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp) {
        self.gid = gid
        self.xid = xid
        self.commitLSN = commitLSN
        self.endLSN = endLSN
        self.commitTime = commitTime
    }
}

/// Two-phase: `ROLLBACK PREPARED` of a transaction delivered at its PREPARE.
public struct PGRollbackPrepared: Hashable, Sendable {
    /// The global transaction identifier given to `PREPARE TRANSACTION`.
    public var gid: String
    public var xid: UInt32
    /// The end of the rollback record: the position to acknowledge.
    public var endLSN: LSN
    public var rollbackTime: PostgresTimestamp

    public init(gid: String, xid: UInt32, endLSN: LSN, rollbackTime: PostgresTimestamp) {
        self.gid = gid
        self.xid = xid
        self.endLSN = endLSN
        self.rollbackTime = rollbackTime
    }
}

// MARK: - Names before 0.2 (boolean names now read as assertions)

extension PGLogicalDecodingMessage {
    @available(*, deprecated, renamed: "isTransactional")
    public var transactional: Bool { isTransactional }

    @available(*, deprecated, renamed: "init(isTransactional:lsn:prefix:content:)")
    public init(transactional: Bool, lsn: LSN, prefix: String, content: [UInt8]) {
        self.init(isTransactional: transactional, lsn: lsn, prefix: prefix, content: content)
    }
}

extension PGTransaction {
    @available(*, deprecated, renamed: "isStreamed")
    public var streamed: Bool { isStreamed }

    @available(*, deprecated, renamed: "init(kind:xid:commitLSN:endLSN:commitTime:origin:isStreamed:changes:)")
    public init(
        kind: Kind, xid: UInt32, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp, origin: String?,
        streamed: Bool, changes: [PGChange]
    ) {
        self.init(
            kind: kind, xid: xid, commitLSN: commitLSN, endLSN: endLSN, commitTime: commitTime, origin: origin,
            isStreamed: streamed, changes: changes)
    }
}

extension PGTransactionBegin {
    @available(*, deprecated, renamed: "isStreamed")
    public var streamed: Bool { isStreamed }

    @available(*, deprecated, renamed: "init(xid:finalLSN:commitTime:isStreamed:)")
    public init(xid: UInt32, finalLSN: LSN, commitTime: PostgresTimestamp?, streamed: Bool) {
        self.init(xid: xid, finalLSN: finalLSN, commitTime: commitTime, isStreamed: streamed)
    }
}

extension PGTransactionAbort {
    @available(*, deprecated, renamed: "abortsWholeTransaction")
    public var wholeTransaction: Bool { abortsWholeTransaction }
}

extension PGSnapshotBatch {
    @available(*, deprecated, renamed: "isLast")
    public var last: Bool { isLast }

    @available(*, deprecated, renamed: "init(table:rows:isLast:backfill:)")
    public init(table: PGTable, rows: [PGRow], last: Bool, backfill: PGBackfillProgress? = nil) {
        self.init(table: table, rows: rows, isLast: last, backfill: backfill)
    }
}
