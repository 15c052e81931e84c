import Foundation
import PGReplication
import PGSupport

/// What the status line shows.
struct StreamProgress: Sendable {
    var received: LSN
    var lagBytes: UInt64
    var changesPerSecond: Double
    var transactions: Int
    /// The table the initial snapshot or a backfill copies now, with its estimate.
    var copy: ChangeStream.CopyProgress? = nil

    /// `initial snapshot: public.orders 120000 of ~1000000 rows (12 %), 210000 rows/s, ~4 s left`.
    static func copyText(_ copy: ChangeStream.CopyProgress, at now: Date = Date()) -> String {
        var text = "\(copy.isBackfill ? "backfill" : "initial snapshot"): \(copy.table) \(copy.rows)"
        if let estimate = copy.estimatedRows, estimate > 0 {
            text += " of ~\(estimate) rows (\(min(100, copy.rows * 100 / estimate)) %)"
        } else {
            text += " rows"
        }
        text += ", \(Int(copy.rowsPerSecond(at: now).rounded())) rows/s"
        if let left = copy.secondsLeft(at: now) { text += ", ~\(duration(left)) left" }
        return text
    }

    /// `42 s`, `3 min 5 s`, `2 h 7 min`.
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total) s" }
        if total < 3600 { return "\(total / 60) min \(total % 60) s" }
        return "\(total / 3600) h \(total / 60 % 60) min"
    }
}

/// A status line on stderr, redrawn in place (`\r`, erase to the end of the line) four times a
/// second by a thread of its own, when stderr is a terminal. Otherwise, while an initial snapshot
/// or a backfill copies a table, a progress line every 10 seconds (`pgrepl: initial snapshot: …`).
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
        guard enabled else { return }
        state.withLock { $0.running = true }
        let terminal = isatty(STDERR_FILENO) == 1
        let thread = Thread { [self] in terminal ? loop() : copyLines() }
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

    /// Not a terminal: a line every 10 seconds while a table is copied.
    private func copyLines() {
        var ticks = 0
        while state.withLock({ $0.running }) {
            Thread.sleep(forTimeInterval: 0.25)
            ticks += 1
            guard ticks % 40 == 0 else { continue }
            if let copy = progress().copy { Output.printError("pgrepl: \(StreamProgress.copyText(copy))") }
        }
        done.signal()
    }

    private func draw(_ progress: StreamProgress, _ state: inout State) {
        // The initial snapshot comes before streaming; a backfill runs beside it.
        let line =
            if let copy = progress.copy, !copy.isBackfill {
                "\r\(StreamProgress.copyText(copy))\u{1B}[K"
            } else {
                "\rreceived \(progress.received)  lag \(Self.bytes(progress.lagBytes))  "
                    + "\(Int(progress.changesPerSecond.rounded())) changes/s  \(progress.transactions) transactions"
                    + (progress.copy.map { "  \(StreamProgress.copyText($0))" } ?? "") + "\u{1B}[K"
            }
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
