/// An error from ``LocalCluster``: what failed, and whatever output explains it
/// (the command that was run, its standard error, or the tail of the server log).
public struct LocalClusterError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// `initdb` / `pg_ctl` could not be found.
        case binariesNotFound
        /// A command exited with a non-zero status or could not be launched.
        case commandFailed
        /// The server did not start; ``LocalClusterError/details`` holds the tail of the server log.
        case serverStartFailed
        /// The cluster was destroyed, or is not running when it has to be.
        case notRunning
        /// The environment or the configuration cannot work (no `postgres` user while root, bad paths, ...).
        case setupFailed
    }

    public var kind: Kind
    /// One line saying what failed.
    public var message: String
    /// The command line that failed, if any.
    public var command: [String]
    /// Standard error of the command, or the tail of the server log.
    public var details: String

    public init(_ kind: Kind, _ message: String, command: [String] = [], details: String = "") {
        self.kind = kind
        self.message = message
        self.command = command
        self.details = details
    }

    public var description: String {
        var text = message
        if !command.isEmpty { text += "\n  command: " + command.joined(separator: " ") }
        let trimmed = details.trimmingTrailingWhitespace()
        if !trimmed.isEmpty {
            text +=
                "\n"
                + trimmed.split(separator: "\n", omittingEmptySubsequences: false).map { "  | " + $0 }.joined(
                    separator: "\n")
        }
        return text
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var result = Substring(self)
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return String(result)
    }
}
