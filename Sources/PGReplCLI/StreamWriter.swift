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
    enum Encoding {
        case json(Wal2JSONEncoder)
        case debezium(DebeziumEncoder)
        case text
    }

    let encoding: Encoding
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
    /// The commit LSN of the last transaction written (Debezium's `source.sequence`).
    private var lastCommitLSN: LSN?
    /// Bytes gathered before they are written (not synced) in the middle of a transaction.
    static let flushSize = 1 << 20

    /// The encoding of a format: wal2json's JSON with `options` (`-o`), whose catalog facts are
    /// read on `sql`, or text.
    static func encoding(
        _ format: ChangeFormat, options: [String], debezium: DebeziumOptions = DebeziumOptions(),
        sql: CatalogConnection
    ) throws(CLIError) -> Encoding {
        switch format {
        case .json:
            let parsed = try Wal2JSONOptions.parse(options)
            let catalog = try attempt("reading the server's TimeZone") { try CatalogFacts(sql: sql, options: parsed) }
            return .json(Wal2JSONEncoder(options: parsed, catalog: catalog))
        case .debezium:
            var keys = Wal2JSONOptions()
            keys.includePK = true
            let (catalog, database) = try attempt("reading the server's settings") {
                (try CatalogFacts(sql: sql, options: keys), try sql.execute("SELECT current_database()").scalar ?? "")
            }
            return .debezium(DebeziumEncoder(options: debezium, catalog: catalog, database: database))
        case .text, .raw:
            return .text
        }
    }

    init(encoding: Encoding, output: LineOutput, status: StatusLine? = nil) {
        self.encoding = encoding
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

    private func handle(_ event: PGChangeEvent) throws -> LSN? {
        switch event {
        case .begin(let begin):
            let spooled = begin.isStreamed || needsCommitAtBegin
            open[begin.xid] = (begin, spooled ? try Spool() : nil)
            if !spooled { beginLine(xid: begin.xid, commitLSN: begin.finalLSN, endLSN: nil, time: begin.commitTime) }
        case .changes(let batch):
            guard let (begin, spool) = open[batch.xid] else { return nil }
            let commit = spool == nil ? (begin.commitTime, begin.finalLSN) : nil
            for (index, change) in batch.changes.enumerated() {
                let lsn = index < batch.lsns.count ? batch.lsns[index] : nil
                if let spool {
                    scratch.removeAll(keepingCapacity: true)
                    let points = try lines(change, xid: batch.xid, lsn: lsn, commit: nil, into: &scratch)
                    if !scratch.isEmpty {
                        try spool.append(subxid: batch.subtransactionXID, insertionPoints: points, scratch)
                    }
                    // A large value's line is not kept around in the scratch buffer's capacity.
                    if scratch.capacity > Self.flushSize { scratch = [] }
                } else {
                    _ = try lines(change, xid: batch.xid, lsn: lsn, commit: commit, into: &buffer)
                }
            }
            changes += batch.changes.count
            try flush(whenLarger: Self.flushSize)
        case .commit(let transaction):
            guard let (_, spool) = open.removeValue(forKey: transaction.xid) else { return nil }
            if let spool {
                beginLine(
                    xid: transaction.xid, commitLSN: transaction.commitLSN, endLSN: transaction.endLSN,
                    time: transaction.commitTime)
                let insertion = insertion(for: transaction)
                try spool.replay(insertion: insertion) { bytes in
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
            transactions += 1
            lastCommitLSN = transaction.commitLSN
            try flush(whenLarger: 0)
            try output.sync()
            return transaction.endLSN
        case .abort(let abort):
            // Spooled lines of the rolled-back part are dropped; lines already written of a
            // transaction cut short by a lost connection stay (its next B line repeats it).
            if abort.abortsWholeTransaction {
                open[abort.xid] = nil
            } else {
                open[abort.xid]?.spool?.abort(abort.subtransactionXID)
            }
        case .transaction(let transaction):
            beginLine(
                xid: transaction.xid, commitLSN: transaction.commitLSN, endLSN: transaction.endLSN,
                time: transaction.commitTime)
            for change in transaction.changes {
                _ = try lines(
                    change, xid: transaction.xid, lsn: nil, commit: (transaction.commitTime, transaction.commitLSN),
                    into: &buffer)
            }
            commitLine(transaction)
            transactions += 1
            lastCommitLSN = transaction.commitLSN
            changes += transaction.changes.count
            try flush(whenLarger: 0)
            try output.sync()
            return transaction.endLSN
        case .message(let message):
            switch encoding {
            case .json(let encoder):
                guard encoder.options.includes(messagePrefix: message.prefix) else { return message.lsn }
                _ = encoder.message(message, xid: nil, time: nil, into: &buffer)
            case .debezium(let encoder):
                var points: [Int] = []
                encoder.message(message, xid: nil, time: .now, points: &points, into: &buffer)
            case .text:
                buffer += Array(
                    "\(TextChangeLines.clock(nil)) \(message.lsn) \(TextChangeLines.message(message))\n".utf8)
            }
            try flush(whenLarger: 0)
            try output.sync()
        case .schemaChange(let change):
            guard schemaChanges else { return nil }
            switch encoding {
            case .json(let encoder): try encoder.schemaChange(change, into: &buffer)
            case .debezium(let encoder): encoder.catalog.forget(change.new.oid)
            case .text: buffer += Array((ChangeFormat.text.line(for: change) + "\n").utf8)
            }
        case .snapshot(let batch):
            for row in batch.rows {
                switch encoding {
                case .json(let encoder): try encoder.snapshotRow(row, batch.table, into: &buffer)
                case .debezium(let encoder):
                    try encoder.snapshotRow(row, batch.table, incremental: batch.backfill != nil, into: &buffer)
                case .text:
                    buffer += Array(
                        "\(TextChangeLines.clock(nil)) SNAPSHOT \(batch.table.qualifiedName) \(TextChangeLines.fields(row))\n"
                            .utf8)
                }
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
            twoPhaseLine(
                .commitPrepared, gid: commit.gid, xid: commit.xid, lsn: commit.commitLSN, endLSN: commit.endLSN,
                time: commit.commitTime)
            try flush(whenLarger: 0)
            try output.sync()
        case .rollbackPrepared(let rollback):
            twoPhaseLine(
                .rollbackPrepared, gid: rollback.gid, xid: rollback.xid, lsn: rollback.endLSN, endLSN: rollback.endLSN,
                time: rollback.rollbackTime)
            try flush(whenLarger: 0)
            try output.sync()
        }
        return event.acknowledgeLSN
    }

    /// Whether a B line needs the commit's end (spool every transaction).
    private var needsCommitAtBegin: Bool {
        if case .json(let encoder) = encoding { return encoder.beginNeedsCommit }
        return false
    }

    private func beginLine(xid: UInt32, commitLSN: LSN, endLSN: LSN?, time: PostgresTimestamp?) {
        switch encoding {
        case .json(let encoder):
            encoder.begin(
                xid: xid, commitLSN: commitLSN, endLSN: endLSN, time: time ?? PostgresTimestamp(rawValue: 0),
                into: &buffer)
        case .debezium: break
        case .text:
            buffer += Array("\(TextChangeLines.prefix(time, commitLSN, xid)) BEGIN\n".utf8)
        }
    }

    enum TwoPhaseAction {
        case prepare, commitPrepared, rollbackPrepared
    }

    /// The line of a PREPARE (where a prepared transaction ends, in place of its commit line),
    /// a COMMIT PREPARED or a ROLLBACK PREPARED.
    private func twoPhaseLine(
        _ action: TwoPhaseAction, gid: String, xid: UInt32, lsn: LSN, endLSN: LSN, time: PostgresTimestamp
    ) {
        switch encoding {
        case .json(let encoder):
            let name: StaticString =
                switch action {
                case .prepare: "P"
                case .commitPrepared: "CP"
                case .rollbackPrepared: "RP"
                }
            encoder.twoPhaseLine(name, gid: gid, xid: xid, lsn: lsn, endLSN: endLSN, time: time, into: &buffer)
        case .debezium: break
        case .text:
            let words =
                switch action {
                case .prepare: "PREPARE TRANSACTION"
                case .commitPrepared: "COMMIT PREPARED"
                case .rollbackPrepared: "ROLLBACK PREPARED"
                }
            buffer += Array(
                "\(TextChangeLines.prefix(time, lsn, xid)) \(words) \(TextChangeLines.quoted(gid)) next \(endLSN)\n"
                    .utf8)
        }
    }

    private func commitLine(_ transaction: PGTransaction) {
        if case .prepare(let gid) = transaction.kind {
            return twoPhaseLine(
                .prepare, gid: gid, xid: transaction.xid, lsn: transaction.commitLSN, endLSN: transaction.endLSN,
                time: transaction.commitTime)
        }
        switch encoding {
        case .json(let encoder): encoder.commit(transaction, into: &buffer)
        case .debezium: break
        case .text:
            buffer += Array(
                "\(TextChangeLines.prefix(transaction.commitTime, transaction.commitLSN, transaction.xid)) COMMIT next \(transaction.endLSN)\n"
                    .utf8)
        }
    }

    /// Appends the lines of one change. `commit` (the commit time and LSN) nil leaves what needs
    /// it out, and returns the offsets in `out` where it goes (``insertion(for:)`` gives it at the
    /// commit).
    private func lines(
        _ change: PGChange, xid: UInt32, lsn: LSN?, commit: (time: PostgresTimestamp?, lsn: LSN)?,
        into out: inout [UInt8]
    ) throws -> [Int] {
        let time = commit.map { $0.time ?? PostgresTimestamp(rawValue: 0) }
        switch encoding {
        case .json(let encoder):
            return try encoder.change(change, xid: xid, lsn: lsn, time: time, into: &out)
        case .debezium(let encoder):
            return try encoder.change(
                change, xid: xid, lsn: lsn, previousCommit: lastCommitLSN, time: time, into: &out)
        case .text:
            if let commit { out.append(contentsOf: "\(TextChangeLines.prefix(commit.time, commit.lsn, xid)) ".utf8) }
            let point = out.count
            TextChangeLines.appendLine(for: change, to: &out)
            return commit == nil ? [point] : []
        }
    }

    /// What a spooled line gets at its insertion point once the commit is known.
    private func insertion(for transaction: PGTransaction) -> [UInt8] {
        switch encoding {
        case .json(let encoder):
            return encoder.options.includeTimestamp ? encoder.timestampField(transaction.commitTime) : []
        case .debezium:
            return Array(String(DebeziumEncoder.milliseconds(transaction.commitTime)).utf8)
        case .text:
            return Array(
                "\(TextChangeLines.prefix(transaction.commitTime, transaction.commitLSN, transaction.xid)) ".utf8)
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

    private func write(_ bytes: ArraySlice<UInt8>) throws(CLIError) {
        try bytes.withUnsafeBytes { raw in Result { () throws(CLIError) in try write(raw) } }.get()
    }
}

/// The lines of one transaction kept on disk until its commit: records of (subtransaction,
/// insertion points, bytes) in an unlinked temporary file.
final class Spool {
    private let fd: Int32
    private var pending: [UInt8] = []
    private var aborted: Set<UInt32> = []

    init() throws {
        var template = Array((FileManager.default.temporaryDirectory.path + "/pgrepl-spool-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { $0.baseAddress.map { mkstemp($0) } ?? -1 }
        guard fd >= 0 else {
            throw CLIError.io("creating a spool file in \(FileManager.default.temporaryDirectory.path)")
        }
        template.withUnsafeBufferPointer { _ = $0.baseAddress.map { unlink($0) } }
        self.fd = fd
        pending.reserveCapacity(1 << 16)
    }

    deinit { close(fd) }

    /// Appends a record: the lines of one change, and the offsets (ascending) where the commit's
    /// part goes.
    func append(subxid: UInt32, insertionPoints: [Int], _ bytes: [UInt8]) throws {
        withUnsafeBytes(of: subxid.littleEndian) { pending += $0 }
        withUnsafeBytes(of: UInt32(insertionPoints.count).littleEndian) { pending += $0 }
        withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { pending += $0 }
        for point in insertionPoints { withUnsafeBytes(of: UInt32(point).littleEndian) { pending += $0 } }
        if bytes.count >= 1 << 16 {
            // A large record goes to the file from where it is, not through `pending`.
            try drain()
            try Output.writeAll(bytes, to: fd, context: "writing a spool file")
            return
        }
        pending += bytes
        if pending.count >= 1 << 16 { try drain() }
    }

    /// The changes of `subxid` were rolled back.
    func abort(_ subxid: UInt32) { aborted.insert(subxid) }

    private func drain() throws {
        try Output.writeAll(pending, to: fd, context: "writing a spool file")
        pending.removeAll(keepingCapacity: true)
    }

    /// Reads the records back in order, each line with `insertion` at its point, skipping rolled-back subtransactions.
    func replay(insertion: [UInt8], _ body: (ArraySlice<UInt8>) throws -> Void) throws {
        try drain()
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw CLIError.io("reading a spool file") }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var offset = 0
        func refill() throws -> Bool {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count >= 0 else { throw CLIError.io("reading a spool file") }
            if count == 0 { return false }
            data.removeFirst(offset)
            offset = 0
            data += chunk[0..<count]
            return true
        }
        func word(at position: Int) -> Int {
            Int(
                UInt32(data[position]) | UInt32(data[position + 1]) << 8 | UInt32(data[position + 2]) << 16
                    | UInt32(data[position + 3]) << 24)
        }
        while true {
            while data.count - offset < 12 { guard try refill() else { return } }
            let subxid = UInt32(word(at: offset))
            let pointCount = word(at: offset + 4)
            let length = word(at: offset + 8)
            let header = 12 + 4 * pointCount
            // A large record is read into room made once, not by doubling.
            if header + length > chunk.count { data.reserveCapacity(data.count + header + length) }
            while data.count - offset < header + length {
                guard try refill() else { throw CLIError(.io, "reading a spool file", "the file ends inside a record") }
            }
            let points = (0..<pointCount).map { word(at: offset + 12 + 4 * $0) }
            let start = offset + header
            offset = start + length
            if aborted.contains(subxid) { continue }
            if insertion.isEmpty || points.isEmpty {
                try body(data[start..<(start + length)])
            } else {
                var assembled: [UInt8] = []
                assembled.reserveCapacity(length + insertion.count * points.count)
                var from = start
                for point in points {
                    let split = start + min(point, length)
                    assembled += data[from..<split]
                    assembled += insertion
                    from = split
                }
                assembled += data[from..<(start + length)]
                try body(assembled[...])
            }
            if length > chunk.count {
                // The large record's room is not kept for the rest.
                data = Array(data[offset...])
                offset = 0
            }
        }
    }
}
