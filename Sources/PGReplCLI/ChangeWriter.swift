import PGReplication

/// Writes change-stream events as lines (``ChangeFormat``) to a ``LineOutput`` and says what may
/// be acknowledged: only what was written and made durable. `pgrepl stream` and `pgrepl demo`
/// both print through it.
final class ChangeWriter {
    let format: ChangeFormat
    let output: LineOutput
    let status: StatusLine?
    /// Whether schema changes are written as lines (`--schema-changes`).
    var schemaChanges = false
    private(set) var transactions = 0
    private(set) var changes = 0
    /// The end LSN of the last transaction written.
    private(set) var lastEnd: LSN?

    init(format: ChangeFormat, output: LineOutput, status: StatusLine? = nil) {
        self.format = format
        self.output = output
        self.status = status
    }

    /// Writes the event's lines, syncs them, and returns the position that may now be
    /// acknowledged (nil when the event completes nothing).
    func write(_ event: PGChangeEvent) throws(CLIError) -> LSN? {
        switch event {
        case .transaction(let transaction):
            let lines = format.lines(for: transaction)
            try write(lines)
            if !lines.isEmpty {
                transactions += 1
                changes += transaction.changes.count
                lastEnd = transaction.endLSN
            }
        case .message(let message):
            try write([format.line(for: message)])
        case .schemaChange(let change):
            if schemaChanges { try write([format.line(for: change)]) }
        case .stalled(let stall):
            // A warning on stderr, never in the output.
            let warning = "pgrepl: warning: the stream is stalled: \(stall.explanation)"
            if let status {
                try status.withLineCleared { () throws(CLIError) in Output.printError(warning) }
            } else {
                Output.printError(warning)
            }
        case .snapshot(let batch):
            try write(format.lines(for: batch))
            changes += batch.rows.count
        case .begin, .changes, .commit, .abort, .commitPrepared, .rollbackPrepared:
            // Not produced by the assembled, one-phase streams these commands run.
            break
        }
        return event.acknowledgeLSN
    }

    /// Writes lines in one batch and syncs them, with the status line out of the way.
    func write(_ lines: [String]) throws(CLIError) {
        guard !lines.isEmpty else { return }
        if let status {
            try status.withLineCleared { () throws(CLIError) in try output.write(lines) }
        } else {
            try output.write(lines)
        }
        try output.sync()
    }
}
