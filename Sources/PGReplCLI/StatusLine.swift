import Foundation
import PGReplication
import PGSupport

/// What the status line shows.
struct StreamProgress: Sendable {
    var received: LSN
    var lagBytes: UInt64
    var changesPerSecond: Double
    var transactions: Int
    /// The initial snapshot's table and rows so far, while it copies.
    var snapshot: (table: String, rows: Int)? = nil
    /// The table a backfill copies now, and the backfill's rows so far.
    var backfill: (table: String, rows: Int)? = nil
}

/// A status line on stderr, redrawn in place (`\r`, erase to the end of the line) four times a
/// second by a thread of its own, when stderr is a terminal; otherwise it does nothing.
///
/// Output to the same terminal goes through ``withLineCleared(_:)`` so that lines never mix with it.
final class StatusLine: @unchecked Sendable {
    /// Whether the thread draws, and whether a line is on the screen; the lock also keeps the
    /// line's drawing apart from other output.
    private struct State {
        var running = false
        var shown = false
    }

    private let state = Locked(State())
    private let progress: @Sendable () -> StreamProgress
    private let done = DispatchSemaphore(value: 0)
    private let stdoutIsTerminal = isatty(STDOUT_FILENO) == 1

    /// Starts the line when stderr is a terminal and `enabled`.
    init(enabled: Bool = true, progress: @escaping @Sendable () -> StreamProgress) {
        self.progress = progress
        guard enabled, isatty(STDERR_FILENO) == 1 else { return }
        state.withLock { $0.running = true }
        let thread = Thread { [self] in loop() }
        thread.name = "pgrepl-status"
        thread.start()
    }

    private func loop() {
        while true {
            let drawn = state.withLock { state -> Bool in
                guard state.running else { return false }
                draw(progress(), &state)
                return true
            }
            guard drawn else {
                done.signal()
                return
            }
            Thread.sleep(forTimeInterval: 0.25)
        }
    }

    private func draw(_ progress: StreamProgress, _ state: inout State) {
        let line =
            progress.snapshot.map { "\rinitial snapshot: \($0.table), \($0.rows) rows copied\u{1B}[K" }
            ?? "\rreceived \(progress.received)  lag \(Self.bytes(progress.lagBytes))  "
            + "\(Int(progress.changesPerSecond.rounded())) changes/s  \(progress.transactions) transactions"
            + (progress.backfill.map { "  backfill \($0.table): \($0.rows) rows" } ?? "") + "\u{1B}[K"
        try? Output.writeAll(Array(line.utf8), to: STDERR_FILENO, context: "writing to stderr")
        state.shown = true
    }

    private func clear(_ state: inout State) {
        guard state.shown else { return }
        try? Output.writeAll(Array("\r\u{1B}[K".utf8), to: STDERR_FILENO, context: "writing to stderr")
        state.shown = false
    }

    /// Runs `body` (which writes to the terminal) with the status line erased; it comes back at the next tick.
    func withLineCleared<T>(_ body: () throws(CLIError) -> T) throws(CLIError) -> T {
        guard stdoutIsTerminal else { return try body() }
        return try state.withLock { state throws(CLIError) in
            clear(&state)
            return try body()
        }
    }

    /// Erases the line and ends the thread.
    func stop() {
        let wasRunning = state.withLock { state in
            defer { state.running = false }
            clear(&state)
            return state.running
        }
        if wasRunning { done.wait() }
    }

    /// `123 B`, `4.5 kB`, `6.7 MB`, `8.9 GB`.
    static func bytes(_ count: UInt64) -> String {
        let units = ["kB", "MB", "GB", "TB"]
        guard count >= 1000 else { return "\(count) B" }
        var value = Double(count) / 1000
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: "%.1f", value) + " " + units[unit]
    }
}
