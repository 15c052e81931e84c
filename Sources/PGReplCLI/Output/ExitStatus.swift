/// The exit statuses of `pgrepl`, the same for every subcommand.
///
/// | status | meaning |
/// | --- | --- |
/// | 0 | success |
/// | 1 | usage: bad arguments or options (including a bad LSN or DSN) |
/// | 2 | connection: cannot connect or authenticate, or the connection was lost |
/// | 3 | server: the server refused a command (SQLSTATE shown), or sent something unexpected |
/// | 4 | I/O: cannot write the output (stdout, a file or directory) |
/// | 5 | findings: `pgrepl check` found something that would stop replication |
/// | 130 | interrupted: stopped by SIGINT or SIGTERM after a clean stop |
public enum ExitStatus: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case success = 0
    case usage = 1
    case connection = 2
    case server = 3
    case io = 4
    case findings = 5
    case interrupted = 130

    public var description: String {
        switch self {
        case .success: "success"
        case .usage: "bad arguments or options"
        case .connection: "connection or authentication failure, or connection lost"
        case .server: "server error (SQLSTATE shown when the server sent one)"
        case .io: "I/O error on the output"
        case .findings: "pgrepl check found what would stop replication"
        case .interrupted: "interrupted by SIGINT or SIGTERM (after a clean stop)"
        }
    }
}
