import PGReplication

/// Writes the lines of `pgrepl stream --format raw` in batches, synced, with the status line out
/// of the way.
final class RawLineWriter {
    let output: LineOutput
    let status: StatusLine?

    init(output: LineOutput, status: StatusLine? = nil) {
        self.output = output
        self.status = status
    }

    /// Writes lines in one batch and, unless told otherwise, syncs them.
    func write(_ lines: [String], sync: Bool = true) throws(CLIError) {
        guard !lines.isEmpty else { return }
        if let status {
            try status.withLineCleared { () throws(CLIError) in try output.write(lines) }
        } else {
            try output.write(lines)
        }
        if sync { try output.sync() }
    }
}
