import ArgumentParser
import PGReplication

/// The options every subcommand that talks to a server shares.
public struct ConnectionOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The server: a conninfo string (\"host=… port=… user=… dbname=…\") or a postgresql:// URI; PG* environment variables fill what it leaves out.",
            valueName: "dsn"))
    public var dsn: String = ""

    public init() {}

    /// An ordinary SQL connection.
    public func sqlConnection() throws(CLIError) -> PGConnection {
        try connecting("connecting") { try PGConnection(dsn) }
    }

    /// A replication connection of the given type.
    public func replicationConnection(_ type: ReplicationType) throws(CLIError) -> ReplicationConnection {
        try connecting("connecting for replication") {
            switch type {
            case .logical: try LogicalReplicationConnection(dsn)
            case .physical: try PhysicalReplicationConnection(dsn)
            }
        }
    }

    /// Opens a connection. libpq reports a failed connection attempt without a SQLSTATE (the
    /// library marks it 08006), so none is shown.
    private func connecting<Connection>(_ what: String, _ open: () throws -> Connection) throws(CLIError) -> Connection
    {
        do {
            return try open()
        } catch {
            var failure = CLIError.wrapping(error, context: what)
            if failure.status == .connection { failure.sqlState = nil }
            throw failure
        }
    }
}
