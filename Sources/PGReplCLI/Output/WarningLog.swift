import Logging

/// The library's warnings on stderr, one `pgrepl: warning:` line each, with the cause the
/// library attached (`pgrepl.error`) and the attempt and delay of a reconnect. Lower levels are
/// dropped: the CLI's own lines say what a user needs.
struct WarningLog: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning

    /// A logger that prints the library's warnings on stderr.
    static func logger() -> Logger { Logger(label: "pgrepl") { _ in WarningLog() } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        var line = "pgrepl: \(event.level >= .error ? "error" : "warning"): \(event.message)"
        if let attempt = merged["pgrepl.attempt"], let delay = merged["pgrepl.delay"] {
            line += " (attempt \(attempt), in \(delay) s)"
        }
        if let error = merged["pgrepl.error"] { line += ": \(error)" }
        Output.printError(line.replacingOccurrences(of: "\n", with: " "))
    }
}
