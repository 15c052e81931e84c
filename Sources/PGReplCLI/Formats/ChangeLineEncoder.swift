import PGOutput
import PGReplication

/// One output format of `pgrepl stream` and `pgrepl demo`: the lines of each event, appended to a
/// byte buffer. ``StreamWriter`` decides when lines are written, spooled, synced and acknowledged;
/// an encoder only says what they are.
///
/// A new format is a folder of its own under `Formats/` with one type conforming to this protocol,
/// and one case in ``ChangeFormat/encoder(_:sql:)``.
///
/// An encoder never queries the server while it writes: what it needs from the catalog it looks
/// up in ``catalog``, which the writer prepares for each change before handing it over.
protocol ChangeLineEncoder: AnyObject {
    /// The catalog facts the encoder looks up, nil when it needs none.
    var catalog: CatalogFacts? { get }
    /// Whether every transaction is spooled to its commit (its first line needs the commit's end).
    var spoolsEveryTransaction: Bool { get }
    /// Whether the lines are the pgoutput messages themselves (``rawMessage(_:lsn:into:)``), not
    /// made from the decoded events.
    var writesRawMessages: Bool { get }

    /// A transaction's first line (`endLSN` nil while its commit is not known).
    func begin(_ transaction: TransactionLine, into out: inout [UInt8])
    /// A committed transaction's last line.
    func commit(_ transaction: TransactionLine, into out: inout [UInt8])
    /// A PREPARE (in place of the commit line), COMMIT PREPARED or ROLLBACK PREPARED.
    func twoPhase(_ action: TwoPhaseAction, gid: String, _ transaction: TransactionLine, into out: inout [UInt8])
    /// The lines of one change. When `position.commit` is nil (the transaction is spooled), what
    /// needs the commit is left out and the offsets in `out` where it goes are returned;
    /// ``insertion(for:)`` gives it at the commit.
    func change(_ change: PGChange, at position: ChangePosition, into out: inout [UInt8]) throws -> [Int]
    /// What a spooled change's lines get at their insertion points once the commit is known.
    func insertion(for transaction: PGTransaction) -> [UInt8]
    /// A non-transactional message's lines; false when the format leaves it out.
    func message(_ message: PGLogicalDecodingMessage, into out: inout [UInt8]) -> Bool
    /// A schema change's lines (`--schema-changes`).
    func schemaChange(_ change: PGSchemaChange, into out: inout [UInt8]) throws
    /// One row of the initial snapshot or of a backfill chunk: the batch's row at `index`.
    func snapshotRow(_ row: PGRow, at index: Int, of batch: PGSnapshotBatch, into out: inout [UInt8]) throws
    /// One pgoutput message as it came, for a format that writes them (``writesRawMessages``).
    func rawMessage(_ payload: UnsafeRawBufferPointer, lsn: LSN, into out: inout [UInt8])
}

extension ChangeLineEncoder {
    var catalog: CatalogFacts? { nil }
    var spoolsEveryTransaction: Bool { false }
    var writesRawMessages: Bool { false }
    func begin(_ transaction: TransactionLine, into out: inout [UInt8]) {}
    func commit(_ transaction: TransactionLine, into out: inout [UInt8]) {}
    func twoPhase(_ action: TwoPhaseAction, gid: String, _ transaction: TransactionLine, into out: inout [UInt8]) {}
    func schemaChange(_ change: PGSchemaChange, into out: inout [UInt8]) throws {}
    func rawMessage(_ payload: UnsafeRawBufferPointer, lsn: LSN, into out: inout [UInt8]) {}
}

/// What a transaction's own lines show: its xid, commit LSN, the commit's end when known, and its
/// commit (or PREPARE, or ROLLBACK PREPARED) time.
struct TransactionLine {
    var xid: UInt32
    var lsn: LSN
    var endLSN: LSN?
    var time: PostgresTimestamp?

    init(xid: UInt32, lsn: LSN, endLSN: LSN?, time: PostgresTimestamp?) {
        self.xid = xid
        self.lsn = lsn
        self.endLSN = endLSN
        self.time = time
    }

    init(_ transaction: PGTransaction) {
        self.init(
            xid: transaction.xid, lsn: transaction.commitLSN, endLSN: transaction.endLSN,
            time: transaction.commitTime)
    }
}

/// The two-phase lines.
enum TwoPhaseAction {
    case prepare, commitPrepared, rollbackPrepared
}

/// Where a change is: its transaction, its own LSN when known, and the transaction's commit (time
/// and LSN) unless it is spooled.
struct ChangePosition {
    var xid: UInt32
    var lsn: LSN?
    var commit: (time: PostgresTimestamp?, lsn: LSN)?
}
