import ArgumentParser
import PGReplication

/// The options every subcommand that talks to a server shares.
public struct ConnectionOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The server: a conninfo string (\"host=… port=… user=… dbname=…\") or a postgresql:// URI; PG* environment variables fill what it leaves out.",
            valueName: "dsn"))
    public var dsn: String = ""

    @Option(
        help: ArgumentHelp(
            "TLS: disable, allow, prefer (libpq's default), require, verify-ca or verify-full; overrides an sslmode in --dsn and PGSSLMODE.",
            valueName: "mode"))
    public var sslmode: String? = nil

    public init() {}

    /// The options for a DSN, as if given on the command line (every option read has a value).
    static func forDSN(_ dsn: String) throws(CLIError) -> ConnectionOptions {
        do {
            return try ConnectionOptions.parse(["--dsn", dsn])
        } catch {
            throw CLIError(.usage, "using the DSN", String(describing: error))
        }
    }

    public func validate() throws {
        let modes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
        if let sslmode, !modes.contains(sslmode) {
            throw ValidationError("--sslmode must be one of \(modes.joined(separator: ", ")) (got \(sslmode))")
        }
    }

    /// The connection string to use: `--dsn` with `--sslmode` added (last, so it wins).
    public var conninfo: String {
        guard let sslmode else { return dsn }
        if dsn.hasPrefix("postgres://") || dsn.hasPrefix("postgresql://") {
            return dsn + (dsn.contains("?") ? "&" : "?") + "sslmode=\(sslmode)"
        }
        return dsn.isEmpty ? "sslmode=\(sslmode)" : "\(dsn) sslmode=\(sslmode)"
    }

    /// An ordinary SQL connection.
    public func sqlConnection() throws(CLIError) -> PGConnection {
        try connecting("connecting") { try PGConnection(conninfo) }
    }

    /// An ordinary SQL connection for catalog facts, opened again when it is lost, as `policy`
    /// allows (see ``CatalogConnection``).
    func catalogConnection(
        policy: ChangeStream.ReconnectPolicy, stopping: @escaping () -> Bool = { false }
    ) throws(CLIError) -> CatalogConnection {
        let conninfo = conninfo
        return CatalogConnection(try sqlConnection(), policy: policy, stopping: stopping) { try PGConnection(conninfo) }
    }

    /// A replication connection of the given type.
    public func replicationConnection(_ type: ReplicationType) throws(CLIError) -> ReplicationConnection {
        try connecting("connecting for replication") {
            switch type {
            case .logical: try LogicalReplicationConnection(conninfo)
            case .physical: try PhysicalReplicationConnection(conninfo)
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
