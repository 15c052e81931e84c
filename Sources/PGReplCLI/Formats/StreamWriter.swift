import Foundation
import PGOutput
import PGReplication

/// Writes the decoded events of `pgrepl stream` and `pgrepl demo` (chunked delivery) as they
/// arrive: no transaction is held in memory.
///
/// - A transaction the server sends after its commit is written line by line: its B line, its
///   changes (in buffers of about 1 MiB), its C line; then the output is synced and the
///   transaction may be acknowledged.
/// - A transaction streamed in progress (`--streaming on|parallel`), or one whose B line needs
///   its commit's end (`-o include-lsn`), is spooled to a temporary file (unlinked at once, so
///   a crash leaves nothing), written at its commit, dropped at its abort; a rolled-back
///   subtransaction's lines are skipped.
/// - After a crash, or a lost connection, inside a transaction, the output ends with its B line
///   and some of its rows but no C line; the server sends the transaction again from its start,
///   so the next B line repeats it.
final class StreamWriter {
    let encoder: any ChangeLineEncoder
    /// The encoder's catalog facts, prepared here before each change reaches it.
    private let catalog: CatalogFacts?
    let output: LineOutput
    let status: StatusLine?
    /// Whether schema changes are written as lines (`--schema-changes`).
    var schemaChanges = false
    private(set) var transactions = 0
    private(set) var changes = 0
    /// Only this writer's thread touches them: no dynamic exclusivity checks on the hot path.
    @exclusivity(unchecked) private var buffer: [UInt8] = []
    /// The lines of a change on their way to a spool.
    @exclusivity(unchecked) private var scratch: [UInt8] = []
    private var open: [UInt32: (begin: PGTransactionBegin, spool: Spool?)] = [:]
    /// Bytes gathered before they are written (not synced) in the middle of a transaction.
    static let flushSize = 1 << 20

    init(encoder: any ChangeLineEncoder, output: LineOutput, status: StatusLine? = nil) {
        self.encoder = encoder
        catalog = encoder.catalog
        self.output = output
        self.status = status
        buffer.reserveCapacity(Self.flushSize + 65_536)
    }

    /// Writes what the event adds and returns the position that may now be acknowledged (its
    /// lines written and synced), nil when the event completes nothing.
    func write(_ event: PGChangeEvent) throws(CLIError) -> LSN? {
        do {
            return try handle(event)
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError.wrapping(error, context: "writing changes")
        }
    }

    /// A pgoutput message as it came, before the stream decodes it (``ChangeLineEncoder/writesRawMessages``).
    /// A non-transactional message's line is written and synced at once: the stream may
    /// acknowledge its position without handing it on (a heartbeat, another stream's watermark).
    func writeRaw(_ payload: UnsafeRawBufferPointer, lsn: LSN) throws(CLIError) {
        encoder.rawMessage(payload, lsn: lsn, into: &buffer)
        // 'M' with flags bit 0 clear: a message outside any transaction.
        if payload.count > 1, payload[0] == 0x4D, payload[1] & 1 == 0 {
            try flush(whenLarger: 0)
            try output.sync()
        } else {
            try flush(whenLarger: Self.flushSize)
        }
    }

    private func handle(_ event: PGChangeEvent) throws -> LSN? {
        switch event {
        case .begin(let begin):
            let spooled = !encoder.writesRawMessages && (begin.isStreamed || encoder.spoolsEveryTransaction)
            open[begin.xid] = (begin, spooled ? try Spool() : nil)
            if !spooled {
                encoder.begin(
                    TransactionLine(xid: begin.xid, lsn: begin.finalLSN, endLSN: nil, time: begin.commitTime),
                    into: &buffer)
            }
        case .changes(let batch):
            guard let (begin, spool) = open[batch.xid] else { return nil }
            var position = ChangePosition(
                xid: batch.xid, lsn: nil, commit: spool == nil ? (begin.commitTime, begin.finalLSN) : nil)
            for (index, change) in batch.changes.enumerated() {
                position.lsn = index < batch.lsns.count ? batch.lsns[index] : nil
                try catalog?.prepare(change)
                if let spool {
                    scratch.removeAll(keepingCapacity: true)
                    let points = try encoder.change(change, at: position, into: &scratch)
                    if !scratch.isEmpty {
                        try spool.append(subxid: batch.subtransactionXID, insertionPoints: points, scratch)
                    }
                    // A large value's line is not kept around in the scratch buffer's capacity.
                    if scratch.capacity > Self.flushSize { scratch = [] }
                } else {
                    _ = try encoder.change(change, at: position, into: &buffer)
                }
            }
            changes += batch.changes.count
            try flush(whenLarger: Self.flushSize)
        case .commit(let transaction):
            guard let (_, spool) = open.removeValue(forKey: transaction.xid) else { return nil }
            if let spool {
                encoder.begin(TransactionLine(transaction), into: &buffer)
                try spool.replay(insertion: encoder.insertion(for: transaction)) { bytes in
                    if bytes.count > Self.flushSize {
                        // A large line goes out from where it was read, not through the buffer.
                        try flush(whenLarger: 0)
                        try write(bytes)
                    } else {
                        buffer.append(contentsOf: bytes)
                        try flush(whenLarger: Self.flushSize)
                    }
                }
            }
            commitLine(transaction)
            return try committed(transaction)
        case .abort(let abort):
            // Spooled lines of the rolled-back part are dropped; lines already written of a
            // transaction cut short by a lost connection stay (its next B line repeats it).
            if abort.abortsWholeTransaction {
                open[abort.xid] = nil
            } else {
                open[abort.xid]?.spool?.abort(abort.subtransactionXID)
            }
        case .transaction(let transaction):
            encoder.begin(TransactionLine(transaction), into: &buffer)
            let position = ChangePosition(
                xid: transaction.xid, lsn: nil, commit: (transaction.commitTime, transaction.commitLSN))
            for change in transaction.changes {
                try catalog?.prepare(change)
                _ = try encoder.change(change, at: position, into: &buffer)
            }
            commitLine(transaction)
            changes += transaction.changes.count
            return try committed(transaction)
        case .message(let message):
            guard encoder.message(message, into: &buffer) else { return message.lsn }
            try flush(whenLarger: 0)
            try output.sync()
        case .schemaChange(let change):
            // The next change of the table reads its facts again.
            catalog?.forget(change.new.oid)
            guard schemaChanges else { return nil }
            try catalog?.prepare(change.new)
            try encoder.schemaChange(change, into: &buffer)
        case .snapshot(let batch):
            try catalog?.prepare(batch.table)
            for (index, row) in batch.rows.enumerated() {
                try encoder.snapshotRow(row, at: index, of: batch, into: &buffer)
                try flush(whenLarger: Self.flushSize)
            }
            changes += batch.rows.count
            try flush(whenLarger: 0)
            try output.sync()
        case .stalled(let stall):
            // A warning on stderr, never in the output.
            let warning = "pgrepl: warning: the stream is stalled: \(stall.explanation)"
            if let status {
                try status.withLineCleared { () throws(CLIError) in Output.printError(warning) }
            } else {
                Output.printError(warning)
            }
        case .commitPrepared(let commit):
            encoder.twoPhase(
                .commitPrepared, gid: commit.gid,
                TransactionLine(xid: commit.xid, lsn: commit.commitLSN, endLSN: commit.endLSN, time: commit.commitTime),
                into: &buffer)
            try flush(whenLarger: 0)
            try output.sync()
        case .rollbackPrepared(let rollback):
            encoder.twoPhase(
                .rollbackPrepared, gid: rollback.gid,
                TransactionLine(
                    xid: rollback.xid, lsn: rollback.endLSN, endLSN: rollback.endLSN, time: rollback.rollbackTime),
                into: &buffer)
            try flush(whenLarger: 0)
            try output.sync()
        }
        return event.acknowledgeLSN
    }

    /// A transaction's lines are all in the buffer: written, synced, counted; its end may be acknowledged.
    private func committed(_ transaction: PGTransaction) throws(CLIError) -> LSN {
        transactions += 1
        try flush(whenLarger: 0)
        try output.sync()
        return transaction.endLSN
    }

    /// A commit's line, or a PREPARE's in its place.
    private func commitLine(_ transaction: PGTransaction) {
        if case .prepare(let gid) = transaction.kind {
            encoder.twoPhase(.prepare, gid: gid, TransactionLine(transaction), into: &buffer)
        } else {
            encoder.commit(TransactionLine(transaction), into: &buffer)
        }
    }

    /// Writes the buffer (unsynced) once it holds more than `size` bytes.
    private func flush(whenLarger size: Int) throws(CLIError) {
        guard buffer.count > size else { return }
        try buffer.withUnsafeBytes { raw in Result { () throws(CLIError) in try write(raw) } }.get()
        if buffer.capacity > 4 * Self.flushSize {
            // A large value grew it: that memory is not kept for the lines that follow.
            buffer = []
            buffer.reserveCapacity(Self.flushSize + 65_536)
        } else {
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Writes whole lines (unsynced), around the status line.
    private func write(_ bytes: UnsafeRawBufferPointer) throws(CLIError) {
        if let status {
            try status.withLineCleared { () throws(CLIError) in try output.write(bytes) }
        } else {
            try output.write(bytes)
        }
    }
}
