// The throwaway PostgreSQL cluster used by the tests, the demo and the benchmarks.
import Foundation
import Logging
import PGSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway PostgreSQL cluster in a fresh temporary folder: `wal_level=logical`, listening on
/// 127.0.0.1 at its own port and on a Unix socket inside the folder, with `fsync=off`.
///
/// ```swift
/// let cluster = try LocalCluster.start(.init(settings: ["wal_sender_timeout": "5s"]), logger: logger)
/// defer { cluster.destroy() }
/// _ = try cluster.psql("CREATE TABLE t (id int PRIMARY KEY)")
/// let conninfo = cluster.dsn(extra: ["replication": "database"])
/// ```
///
/// When this process is root, every server command (`initdb`, `pg_ctl`) runs as the `postgres` user
/// through `runuser`, and the folder is owned by that user. Client tools (`psql`, ``run(_:arguments:environment:)``)
/// run as the calling user.
///
/// Clean-up: ``destroy()`` (also called from `deinit`) stops the server and removes the folder. Clusters
/// still alive when the process exits normally are destroyed by an `atexit` handler, and
/// ``installSignalCleanup()`` does the same on SIGINT/SIGTERM. SIGKILL cannot be caught: a cluster
/// of a killed process keeps running; its folder is `/tmp/pglocalcluster.*` and
/// `pg_ctl -D <folder>/data -m immediate stop` ends it.
///
/// All members are safe to call from several threads; lifecycle calls are serialised.
public final class LocalCluster: @unchecked Sendable {
    /// The address the server listens on.
    public let host = "127.0.0.1"
    /// The cluster's own temporary folder; the Unix socket is created here.
    public let socketDirectory: String
    /// The data directory (`initdb -D`).
    public let dataDirectory: String
    /// The server log (`pg_ctl -l`).
    public let logFile: String
    /// Where `initdb`, `pg_ctl`, `psql`, `pg_recvlogical`, ... are taken from.
    public let binDirectory: String
    /// The server version, e.g. `15.18`.
    public let serverVersion: String
    public let configuration: Configuration

    private let runner: CommandRunner
    private let logger: Logger
    private let state: Locked<State>

    private enum Phase { case stopped, running, destroyed }
    private struct State {
        var port: Int
        var phase: Phase
    }

    /// The TCP port on 127.0.0.1 (fixed once the server first started).
    public var port: Int { state.withLock { $0.port } }
    public var isRunning: Bool { state.withLock { $0.phase == .running } }
    /// The major version, e.g. 15, when ``serverVersion`` starts with a number.
    public var serverMajorVersion: Int? { Int(serverVersion.prefix { $0.isNumber }) }

    private init(
        root: String, binDirectory: String, serverVersion: String, configuration: Configuration,
        runner: CommandRunner, logger: Logger
    ) {
        socketDirectory = root
        dataDirectory = root + "/data"
        logFile = root + "/server.log"
        self.binDirectory = binDirectory
        self.serverVersion = serverVersion
        self.configuration = configuration
        self.runner = runner
        self.logger = logger
        state = Locked(State(port: configuration.port ?? 0, phase: .stopped))
        ClusterRegistry.register(root: root, dataDirectory: dataDirectory)
    }

    deinit { destroy() }

    // MARK: Creating

    /// Creates a cluster in a new temporary folder and starts it. On failure nothing is left behind.
    public static func start(
        _ configuration: Configuration = .init(), logger: Logger = .disabled
    ) throws -> LocalCluster {
        let runner = try CommandRunner.forCurrentUser()
        let binDirectory: String
        if let configured = configuration.binDirectory {
            guard hasServerBinaries(configured) else {
                throw binariesNotFound(searched: ["binDirectory=\(configured)"])
            }
            binDirectory = configured
        } else {
            binDirectory = try discoverBinDirectory()
        }
        let versionLine = try runner.check("pg_ctl --version", binDirectory + "/pg_ctl", ["--version"])
        let root = try makeClusterFolder(runner: runner)
        let cluster = LocalCluster(
            root: root, binDirectory: binDirectory, serverVersion: parseVersion(versionLine),
            configuration: configuration, runner: runner, logger: logger)
        do {
            try cluster.initialize()
            try cluster.state.withLock { try cluster.launch(&$0, portRetries: configuration.port == nil ? 5 : 1) }
            if case .scramPassword(let user, let password) = configuration.authentication {
                let verb = user == "postgres" ? "ALTER ROLE" : "CREATE ROLE"
                do {
                    _ = try cluster.psql(
                        "\(verb) \(quoteIdentifier(user)) LOGIN SUPERUSER REPLICATION PASSWORD \(quoteLiteral(password))"
                    )
                } catch var error as LocalClusterError {
                    // The failed command holds the password.
                    error.command = error.command.map {
                        $0.replacingOccurrences(of: quoteLiteral(password), with: "'xxx'")
                    }
                    throw error
                }
            }
        } catch {
            cluster.destroy()
            throw error
        }
        return cluster
    }

    /// Makes a physical standby of this running cluster (`pg_basebackup` of its data directory,
    /// `standby.signal`, and `primary_conninfo` to it over its Unix socket, with `dbname=postgres`
    /// so that `sync_replication_slots` can work) in a new temporary folder, and starts it.
    ///
    /// - Parameters:
    ///   - settings: extra settings of the standby (e.g. `["hot_standby_feedback": "on"]`).
    ///   - physicalSlot: a physical slot on this cluster for the standby to stream through
    ///     (`primary_slot_name`); it is created when it does not exist.
    public func startStandby(
        settings: [String: String] = [:], physicalSlot: String? = nil, logger: Logger = .disabled
    ) throws -> LocalCluster {
        if let physicalSlot {
            try psql(
                """
                SELECT pg_create_physical_replication_slot(\(Self.quoteLiteral(physicalSlot)), true)
                WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = \(Self.quoteLiteral(physicalSlot)))
                """)
        }
        var standbySettings = configuration.settings.merging(settings) { $1 }
        standbySettings["primary_conninfo"] =
            "host=\(socketDirectory) port=\(port) user=postgres dbname=postgres application_name=standby"
        if let physicalSlot { standbySettings["primary_slot_name"] = physicalSlot }
        let standbyConfiguration = Configuration(
            settings: standbySettings, port: nil, binDirectory: binDirectory,
            authentication: configuration.authentication)
        let root = try Self.makeClusterFolder(runner: runner)
        let standby = LocalCluster(
            root: root, binDirectory: binDirectory, serverVersion: serverVersion, configuration: standbyConfiguration,
            runner: runner, logger: logger)
        do {
            try runner.check(
                "pg_basebackup", binDirectory + "/pg_basebackup",
                [
                    "-D", standby.dataDirectory, "-h", socketDirectory, "-p", String(port), "-U", "postgres",
                    "-X", "stream", "-c", "fast",
                ],
                asServer: true, directory: root)
            try standby.write("", to: standby.dataDirectory + "/standby.signal")
            try standby.state.withLock { try standby.launch(&$0, portRetries: 5) }
        } catch {
            standby.destroy()
            throw error
        }
        return standby
    }

    /// Promotes a standby (`pg_ctl promote -w`): it leaves recovery and accepts writes.
    public func promote() throws {
        try runner.check(
            "pg_ctl promote", binDirectory + "/pg_ctl", ["-D", dataDirectory, "-w", "-t", "60", "promote"],
            asServer: true, directory: socketDirectory)
    }

    private static func parseVersion(_ line: String) -> String {
        // "pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        guard let range = line.range(of: "(PostgreSQL) ") else { return line.trimmingTrailingWhitespace() }
        return String(line[range.upperBound...].prefix { !$0.isWhitespace })
    }

    private static func makeClusterFolder(runner: CommandRunner) throws -> String {
        // Short base path: a Unix socket path must fit in 107 bytes. As root, always /tmp so that the
        // postgres user can reach the folder.
        var base = "/tmp"
        if runner.serverAccount == nil, let tmp = ProcessInfo.processInfo.environment["TMPDIR"], !tmp.isEmpty,
            tmp.utf8.count < 60
        {
            base = tmp.hasSuffix("/") ? String(tmp.dropLast()) : tmp
        }
        var template = Array((base + "/pglocalcluster.XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) } != nil
        }
        guard created else {
            throw LocalClusterError(
                .setupFailed, "could not create a temporary folder in \(base): \(String(cString: strerror(errno)))")
        }
        let root = template.withUnsafeBufferPointer { buffer in buffer.baseAddress.map { String(cString: $0) } ?? "" }
        try runner.prepare(root, permissions: 0o755)
        return root
    }

    /// initdb, then pg_hba.conf, the include of our settings file, and the TLS files.
    private func initialize() throws {
        logger.debug("initdb", metadata: ["data": "\(dataDirectory)", "bin": "\(binDirectory)"])
        let initdb = binDirectory + "/initdb"
        let common = ["-D", dataDirectory, "-A", "trust", "-U", "postgres", "-E", "UTF8"]
        let first = try runner.run(initdb, common + ["--locale=C.UTF-8"], asServer: true, directory: socketDirectory)
        if first.status != 0 {
            logger.debug(
                "initdb with C.UTF-8 failed; retrying with --no-locale", metadata: ["stderr": "\(first.stderr)"])
            try? FileManager.default.removeItem(atPath: dataDirectory)
            try runner.check("initdb", initdb, common + ["--no-locale"], asServer: true, directory: socketDirectory)
        }

        let method: String
        if case .scramPassword = configuration.authentication { method = "scram-sha-256" } else { method = "trust" }
        let hba = """
            # Written by PGLocalCluster.
            local all all trust
            local replication all trust
            host all all 127.0.0.1/32 \(method)
            host replication all 127.0.0.1/32 \(method)

            """
        try write(hba, to: dataDirectory + "/pg_hba.conf")
        guard let confBytes = readFile(dataDirectory + "/postgresql.conf") else {
            throw LocalClusterError(.setupFailed, "cannot read \(dataDirectory)/postgresql.conf after initdb")
        }
        let conf = String(decoding: confBytes, as: UTF8.self)
        try write(conf + "\ninclude 'pglocalcluster.conf'\n", to: dataDirectory + "/postgresql.conf")

        if let tls = configuration.tls {
            let folder = socketDirectory + "/tls"
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
                try FileManager.default.copyItem(atPath: tls.certificateFile, toPath: folder + "/server.crt")
                try FileManager.default.copyItem(atPath: tls.keyFile, toPath: folder + "/server.key")
            } catch {
                throw LocalClusterError(.setupFailed, "could not copy the TLS certificate/key into \(folder): \(error)")
            }
            try runner.prepare(folder, permissions: 0o700)
            try runner.prepare(folder + "/server.crt", permissions: 0o600)
            try runner.prepare(folder + "/server.key", permissions: 0o600)
        }
    }

    /// The settings file included from postgresql.conf, rewritten at every start (the port may change).
    private func settingsFile(port: Int) -> String {
        var settings: [(String, String)] = [
            ("wal_level", "logical"), ("max_wal_senders", "20"), ("max_replication_slots", "20"),
            ("listen_addresses", "127.0.0.1"), ("port", String(port)),
            ("unix_socket_directories", socketDirectory), ("fsync", "off"), ("max_prepared_transactions", "10"),
        ]
        if case .scramPassword = configuration.authentication {
            settings.append(("password_encryption", "scram-sha-256"))
        }
        if configuration.tls != nil {
            settings += [
                ("ssl", "on"), ("ssl_cert_file", socketDirectory + "/tls/server.crt"),
                ("ssl_key_file", socketDirectory + "/tls/server.key"),
            ]
        }
        settings += configuration.settings.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return "# Written by PGLocalCluster at every start.\n"
            + settings.map { "\($0.0) = \(Self.quoteLiteral($0.1))\n" }.joined()
    }

    private func write(_ text: String, to path: String) throws {
        do {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
        } catch {
            throw LocalClusterError(.setupFailed, "could not write \(path): \(error)")
        }
        try runner.prepare(path, permissions: 0o600)
    }

    // MARK: Lifecycle

    private func launch(_ state: inout State, portRetries: Int) throws {
        guard state.phase != .destroyed else { throw destroyedError() }
        guard state.phase != .running else { return }
        for attempt in 1...max(portRetries, 1) {
            let port = state.port != 0 && attempt == 1 ? state.port : try Self.freePort()
            try write(settingsFile(port: port), to: dataDirectory + "/pglocalcluster.conf")
            let logOffset = (try? FileManager.default.attributesOfItem(atPath: logFile)[.size] as? Int) ?? 0
            logger.debug(
                "starting PostgreSQL",
                metadata: ["data": "\(dataDirectory)", "port": "\(port)", "attempt": "\(attempt)"])
            let started = ContinuousClock.now
            let arguments = ["-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "start"]
            let output = try runner.run(binDirectory + "/pg_ctl", arguments, asServer: true, directory: socketDirectory)
            if output.status == 0 {
                state.port = port
                state.phase = .running
                logger.debug(
                    "PostgreSQL started", metadata: ["port": "\(port)", "took": "\(ContinuousClock.now - started)"])
                return
            }
            let log = logTail(from: logOffset)
            let portTaken = log.contains("could not bind") || log.contains("already in use")
            if portTaken && attempt < portRetries {
                logger.debug("port \(port) is taken; picking another")
                state.port = 0
                continue
            }
            throw LocalClusterError(
                .serverStartFailed, "PostgreSQL did not start (port \(port)); server log \(logFile):",
                command: [binDirectory + "/pg_ctl"] + arguments, details: log.isEmpty ? output.stderr : log)
        }
    }

    /// Starts the server again after ``stop(mode:)``, on the same data directory and port.
    public func start() throws {
        try state.withLock { try launch(&$0, portRetries: 1) }
    }

    /// Stops the server (`pg_ctl stop -m mode -w`). Does nothing when it is not running.
    public func stop(mode: StopMode = .fast) throws {
        try state.withLock { state in
            guard state.phase == .running else { return }
            logger.debug("stopping PostgreSQL", metadata: ["data": "\(dataDirectory)", "mode": "\(mode.rawValue)"])
            try runner.check(
                "pg_ctl stop", binDirectory + "/pg_ctl", ["-D", dataDirectory, "-m", mode.rawValue, "-w", "stop"],
                asServer: true, directory: socketDirectory)
            state.phase = .stopped
        }
    }

    public func restart(mode: StopMode = .fast) throws {
        try stop(mode: mode)
        try start()
    }

    /// Stops the server (immediate shutdown) and removes the cluster folder. Safe to call more than once.
    public func destroy() {
        let wasDestroyed = state.withLock { state in
            defer { state.phase = .destroyed }
            return state.phase == .destroyed
        }
        guard !wasDestroyed else { return }
        logger.debug("destroying PostgreSQL cluster", metadata: ["folder": "\(socketDirectory)"])
        ClusterRegistry.destroy(root: socketDirectory)
    }

    private func destroyedError() -> LocalClusterError {
        LocalClusterError(.notRunning, "the cluster in \(socketDirectory) was destroyed")
    }

    private func logTail(from offset: Int, maxLines: Int = 40) -> String {
        guard let handle = FileHandle(forReadingAtPath: logFile) else { return "" }
        defer { try? handle.close() }
        _ = try? handle.seek(toOffset: UInt64(offset))
        let text = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(maxLines).joined(separator: "\n")
    }

    /// The last lines of the server log, for error messages and debugging.
    public func serverLog(lines: Int = 40) -> String { logTail(from: 0, maxLines: lines) }

    // MARK: Clients

    /// A key=value connection string over TCP to 127.0.0.1. With ``Configuration/Authentication/scramPassword(user:password:)``
    /// the password is added when `user` is the configured user. `extra` adds or replaces keys
    /// (e.g. `["replication": "database"]`, `["sslmode": "require"]`).
    public func dsn(database: String = "postgres", user: String = "postgres", extra: [String: String] = [:]) -> String {
        var pairs = ["host": host, "port": String(port), "dbname": database, "user": user]
        if case .scramPassword(let scramUser, let password) = configuration.authentication, scramUser == user {
            pairs["password"] = password
        }
        pairs.merge(extra) { _, new in new }
        let order = ["host", "port", "dbname", "user"]
        let keys = order + pairs.keys.filter { !order.contains($0) }.sorted()
        return keys.compactMap { key in pairs[key].map { "\(key)=\(Self.conninfoValue($0))" } }.joined(separator: " ")
    }

    /// Runs `psql -X -A -t -v ON_ERROR_STOP=1 -c sql` as user `postgres` over the Unix socket and returns
    /// its standard output without the final newline. Throws with psql's standard error on failure.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        let arguments = [
            "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-p", String(port),
            "-U", "postgres", "-d", database, "-c", sql,
        ]
        var output = try run("psql", arguments: arguments)
        while output.hasSuffix("\n") { output.removeLast() }
        return output
    }

    /// Creates a database owned by `postgres`.
    public func createDatabase(_ name: String) throws {
        try psql("CREATE DATABASE \(Self.quoteIdentifier(name))")
    }

    /// Runs another tool from ``binDirectory`` (`pg_recvlogical`, `pg_receivewal`, `pg_waldump`, `psql`, ...)
    /// as the calling user, waits for it, and returns its standard output. Variables starting with `PG` are
    /// not inherited; pass them in `environment` (e.g. `PGPASSWORD`). Throws with its standard error
    /// when it exits with a non-zero status.
    @discardableResult
    public func run(_ tool: String, arguments: [String], environment: [String: String] = [:]) throws -> String {
        var executable = binDirectory + "/" + tool
        if !FileManager.default.isExecutableFile(atPath: executable), tool == "psql" {
            // Some layouts keep the client in /usr/bin only.
            executable =
                ["/usr/bin/psql", "/usr/local/bin/psql"].first(where: FileManager.default.isExecutableFile(atPath:))
                ?? executable
        }
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw LocalClusterError(.commandFailed, "\(tool) not found in \(binDirectory)")
        }
        return try runner.check(tool, executable, arguments, environment: environment)
    }

    // MARK: Quoting

    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func quoteLiteral(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
    }

    static func conninfoValue(_ value: String) -> String {
        let plain = !value.isEmpty && !value.contains { $0.isWhitespace || $0 == "'" || $0 == "\\" }
        if plain { return value }
        return "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    /// A port on 127.0.0.1 that is free right now (the kernel picks it).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else {
            throw LocalClusterError(.setupFailed, "socket() failed: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard ok else {
            throw LocalClusterError(
                .setupFailed, "could not pick a free port on 127.0.0.1: \(String(cString: strerror(errno)))")
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
