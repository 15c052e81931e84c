import Foundation
import PGLocalCluster
import Testing

/// These tests need PostgreSQL's server binaries; they fail (never skip) when a server cannot start.
@Suite struct LocalClusterTests {
    @Test func lifecycleKeepsDataAcrossStopStartAndRestart() throws {
        let cluster = try LocalCluster.start(.init(settings: ["wal_sender_timeout": "7s"]))
        defer { cluster.destroy() }
        #expect(try cluster.psql("SHOW wal_level") == "logical")
        #expect(try cluster.psql("SHOW wal_sender_timeout") == "7s")
        #expect(try cluster.psql("SHOW max_prepared_transactions") == "10")
        #expect(cluster.serverMajorVersion != nil)
        try cluster.psql("CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept VALUES (1), (2)")
        let port = cluster.port

        try cluster.stop()
        #expect(!cluster.isRunning)
        #expect(throws: LocalClusterError.self) { try cluster.psql("SELECT 1") }
        try cluster.start()
        #expect(cluster.port == port)
        #expect(try cluster.psql("SELECT count(*) FROM kept") == "2")

        try cluster.restart(mode: .immediate)
        #expect(try cluster.psql("SELECT sum(id) FROM kept") == "3")
        try cluster.restart(mode: .smart)
        #expect(cluster.isRunning && cluster.port == port)

        let folder = cluster.socketDirectory
        #expect(FileManager.default.fileExists(atPath: cluster.dataDirectory + "/PG_VERSION"))
        cluster.destroy()
        #expect(!FileManager.default.fileExists(atPath: folder))
        cluster.destroy()  // idempotent
        #expect(throws: LocalClusterError.self) { try cluster.start() }
    }

    @Test func twoClustersRunSideBySide() throws {
        let first = try LocalCluster.start()
        defer { first.destroy() }
        let second = try LocalCluster.start()
        defer { second.destroy() }
        #expect(first.port != second.port)
        #expect(first.dataDirectory != second.dataDirectory)
        try first.createDatabase("only first")
        // Over TCP with the key=value conninfo, as the replication layer connects.
        let query = "SELECT count(*) FROM pg_database WHERE datname = 'only first'"
        #expect(try first.run("psql", arguments: ["-X", "-A", "-t", "-d", first.dsn(), "-c", query]) == "1\n")
        #expect(try second.run("psql", arguments: ["-X", "-A", "-t", "-d", second.dsn(), "-c", query]) == "0\n")
        #expect(try first.psql("SELECT current_database()", database: "only first") == "only first")
    }

    @Test func replicationConnectionAndTools() throws {
        let cluster = try LocalCluster.shared()
        #expect(try LocalCluster.shared() === cluster)
        let identify = try cluster.run(
            "psql",
            arguments: [
                "-X", "-A", "-t", "-d", cluster.dsn(extra: ["replication": "database"]), "-c", "IDENTIFY_SYSTEM",
            ])
        #expect(identify.contains("|"))
        #expect(try cluster.run("pg_recvlogical", arguments: ["--version"]).contains(cluster.serverVersion))
    }

    @Test func scramPasswordIsRequiredOverTCP() throws {
        let cluster = try LocalCluster.start(
            .init(authentication: .scramPassword(user: "alice", password: "s3cret 'x'")))
        defer { cluster.destroy() }
        #expect(try cluster.psql("SHOW password_encryption") == "scram-sha-256")
        #expect(
            try cluster.psql("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'alice'") == "t")

        func connect(password: String, extra: [String: String] = [:]) throws -> String {
            let conninfo =
                "host=127.0.0.1 port=\(cluster.port) dbname=postgres user=alice"
                + extra.map { " \($0.key)=\($0.value)" }.joined()
            return try cluster.run(
                "psql", arguments: ["-X", "-A", "-t", "-w", "-d", conninfo, "-c", "SELECT current_user"],
                environment: ["PGPASSWORD": password, "PGPASSFILE": "/dev/null"])
        }
        #expect(try connect(password: "s3cret 'x'") == "alice\n")
        #expect(try connect(password: "s3cret 'x'", extra: ["replication": "database"]).contains("alice"))
        let error = #expect(throws: LocalClusterError.self) { try connect(password: "wrong") }
        #expect(error?.details.contains("password authentication failed") == true)
        // The generated DSN carries the password for the configured user.
        #expect(
            try cluster.run("psql", arguments: ["-X", "-A", "-t", "-d", cluster.dsn(user: "alice"), "-c", "SELECT 1"])
                == "1\n")
    }

    @Test(
        .enabled(
            if: ServerFeatures.current.runs(.ssl), Comment(rawValue: ServerFeatures.current.reason(.ssl))))
    func tlsVerifiesAgainstTheTestCA() throws {
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        try FileManager.default.createDirectory(atPath: folder + "/good", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder + "/other", withIntermediateDirectories: true)
        let certificates = try LocalCluster.makeTestCertificates(in: folder + "/good", hostName: "localhost")
        let otherCA = try LocalCluster.makeTestCertificates(in: folder + "/other", hostName: "localhost").caCertificate

        let cluster = try LocalCluster.start(.init(tls: certificates.serverFiles))
        defer { cluster.destroy() }
        #expect(try cluster.psql("SHOW ssl") == "on")

        func connect(rootCertificate: String) throws -> String {
            let conninfo =
                "host=localhost hostaddr=127.0.0.1 port=\(cluster.port) dbname=postgres user=postgres sslmode=verify-full sslrootcert=\(rootCertificate)"
            return try cluster.run(
                "psql",
                arguments: [
                    "-X", "-A", "-t", "-d", conninfo, "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                ])
        }
        #expect(try connect(rootCertificate: certificates.caCertificate) == "t\n")
        let error = #expect(throws: LocalClusterError.self) { try connect(rootCertificate: otherCA) }
        #expect(error?.details.contains("certificate verify failed") == true)
    }

    @Test func missingBinariesGiveAnInstallHint() throws {
        let empty = try temporaryFolder()
        defer { removeTemporary(empty) }
        let error = #expect(throws: LocalClusterError.self) {
            try LocalCluster.discoverBinDirectory(environment: ["PG_BINDIR": empty])
        }
        #expect(error?.kind == .binariesNotFound)
        let text = error.map(String.init(describing:)) ?? ""
        #expect(
            text.contains(
                "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with: apt-get install postgresql"))
        #expect(text.contains(empty))

        let startError = #expect(throws: LocalClusterError.self) { try LocalCluster.start(.init(binDirectory: empty)) }
        #expect(startError?.kind == .binariesNotFound)
    }

    @Test func failedStartReportsTheServerLogAndLeavesNothingBehind() throws {
        let badSetting = #expect(throws: LocalClusterError.self) {
            try LocalCluster.start(.init(settings: ["shared_buffers": "plenty"]))
        }
        #expect(badSetting?.kind == .serverStartFailed)
        #expect(badSetting?.details.contains("shared_buffers") == true)
        if let message = badSetting?.message, let range = message.range(of: "/server.log") {
            let folder = String(message[..<range.lowerBound].split(separator: " ").last ?? "")
            #expect(folder.contains("pglocalcluster."))
            #expect(!FileManager.default.fileExists(atPath: folder))
        }

        let taken = try LocalCluster.shared().port
        let portInUse = #expect(throws: LocalClusterError.self) { try LocalCluster.start(.init(port: taken)) }
        #expect(portInUse?.details.contains("could not bind") == true)
    }

    @Test func dsnQuotesValues() throws {
        let cluster = try LocalCluster.shared()
        let dsn = cluster.dsn(database: "my db", extra: ["application_name": "it's", "sslmode": "disable"])
        #expect(
            dsn
                == "host=127.0.0.1 port=\(cluster.port) dbname='my db' user=postgres application_name='it\\'s' sslmode=disable"
        )
    }

}
