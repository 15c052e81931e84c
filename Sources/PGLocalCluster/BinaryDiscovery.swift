import Foundation

extension LocalCluster {
    /// Finds the directory holding the PostgreSQL server binaries (`initdb` and `pg_ctl`).
    ///
    /// Search order: `PG_BINDIR` (when set, it is the only place searched), `pg_config --bindir`,
    /// each `PATH` entry (symbolic links are followed to the real directory), the newest
    /// `/usr/lib/postgresql/*/bin`, then `/usr/local/pgsql/bin`.
    /// - Parameter environment: the environment to read `PG_BINDIR` and `PATH` from.
    public static func discoverBinDirectory(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> String {
        var searched: [String] = []
        func accept(_ directory: String) -> String? {
            searched.append(directory)
            return hasServerBinaries(directory) ? directory : nil
        }

        if let override = environment["PG_BINDIR"], !override.isEmpty {
            if let found = accept(override) { return found }
            throw binariesNotFound(searched: ["PG_BINDIR=\(override)"])
        }
        let path = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        if let pgConfig = CommandRunner.findOnPath("pg_config", environment: environment),
            let output = try? CommandRunner(serverAccount: nil).run(pgConfig, ["--bindir"]), output.status == 0
        {
            let directory = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if let found = accept(directory) { return found }
        }
        for entry in path {
            let initdb = URL(fileURLWithPath: entry + "/initdb")
            guard FileManager.default.isExecutableFile(atPath: initdb.path) else {
                searched.append(entry)
                continue
            }
            // /usr/local/bin/initdb may be a link into /usr/lib/postgresql/N/bin: use the real directory.
            let real = initdb.resolvingSymlinksInPath().deletingLastPathComponent().path
            if let found = accept(real) ?? accept(entry) { return found }
        }
        let versioned = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .sorted { $0.compare($1, options: .numeric) == .orderedDescending }
            .map { "/usr/lib/postgresql/\($0)/bin" }
        for directory in versioned + ["/usr/local/pgsql/bin"] {
            if let found = accept(directory) { return found }
        }
        if versioned.isEmpty { searched.append("/usr/lib/postgresql/*/bin") }
        throw binariesNotFound(searched: searched)
    }

    static func hasServerBinaries(_ directory: String) -> Bool {
        ["initdb", "pg_ctl"].allSatisfy { FileManager.default.isExecutableFile(atPath: directory + "/" + $0) }
    }

    static func binariesNotFound(searched: [String]) -> LocalClusterError {
        var unique: [String] = []
        for place in searched where !unique.contains(place) { unique.append(place) }
        return LocalClusterError(
            .binariesNotFound,
            "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with: apt-get install postgresql",
            details: "searched: " + unique.joined(separator: ", "))
    }
}
