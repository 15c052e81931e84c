import Foundation
import Logging
import PGLocalCluster
import PGOutput
import PGReplication
import PGSupport
import Testing

/// A private cluster with its own CA (server certificate for 127.0.0.1), `ssl=on` and SCRAM
/// passwords, shared by the security tests of this process.
enum SecureServer {
    static let user = "repl_user"
    /// Quotes, a backslash, a space, a semicolon and non-ASCII: the DSN quoting is exercised too.
    static let password = "hunter2-'q\\ ü;x"

    struct Setup: Sendable {
        let rig: FaultRig
        let certificates: LocalCluster.TestCertificates
        let otherCA: String
        let folder: String
    }

    static func setup() throws -> Setup { try shared.get() }

    private static let shared: Result<Setup, any Error> = Result {
        let folder = NSTemporaryDirectory() + "pgrepl-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/other", withIntermediateDirectories: true)
        let certificates = try LocalCluster.makeTestCertificates(in: folder, hostName: "127.0.0.1")
        let other = try LocalCluster.makeTestCertificates(in: folder + "/other", hostName: "127.0.0.1")
        let rig = try FaultRig(
            tls: certificates.serverFiles, authentication: .scramPassword(user: user, password: password))
        return Setup(rig: rig, certificates: certificates, otherCA: other.caCertificate, folder: folder)
    }

    /// A DSN for the SCRAM user over TLS; `extra` adds or replaces keys.
    static func dsn(_ setup: Setup, _ extra: [String: String] = [:]) -> String {
        var keys = ["sslmode": "verify-full", "sslrootcert": setup.certificates.caCertificate]
        keys.merge(extra) { $1 }
        return setup.rig.cluster.dsn(user: user, extra: keys)
    }
}

/// Log lines kept in memory, every level.
final class LogCapture: Sendable {
    let lines = Locked<[String]>([])

    var logger: Logger {
        Logger(label: "capture") { _ in Handler(capture: self) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let error = event.error.map { " error: \($0)" } ?? ""
            capture.lines.withLock { $0.append("\(event.level) \(event.message) \(all)\(error)") }
        }
    }
}

@Suite(.serialized) struct SecurityTests {
    @Test(.requires(.ssl)) func verifyFullWorksForLogicalPhysicalAndChangeStream() throws {
        let setup = try SecureServer.setup()
        let dsn = SecureServer.dsn(setup)
        let logical = try LogicalReplicationConnection(dsn)
        defer { logical.close() }
        #expect(logical.usesTLS)
        #expect(try logical.cursor().identifySystem().database == "postgres")

        let physical = try PhysicalReplicationConnection(dsn)
        defer { physical.close() }
        #expect(physical.usesTLS)
        let cursor = try physical.cursor()
        let start = try cursor.identifySystem().xlogPosition
        try cursor.startReplication(startLSN: LSN(rawValue: start.rawValue & ~0xFFFFFF))
        try setup.rig.cluster.psql("SELECT pg_switch_wal()")
        let messages = try pollMessages(cursor, seconds: 10) { _ in true }
        #expect(!messages.isEmpty, "no WAL over the TLS physical stream")
        try cursor.stopReplication()

        var configuration = setup.rig.configuration(dsn: dsn)
        configuration.reconnect = .never
        let stream = ChangeStream(configuration)
        let recorder = Recorder(stream)
        try setup.rig.cluster.psql("INSERT INTO ev VALUES (1001, 'tls')")
        try setup.rig.insertMarker()
        #expect(recorder.wait(seconds: 30))
        if let error = recorder.error { throw error }
        #expect(recorder.delivered.contains { $0.changes.first?.values["v"] == .text("tls") })
        try setup.rig.cluster.psql("DELETE FROM ev")
    }

    @Test(.requires(.ssl), arguments: ["wrong CA", "wrong host name"])
    func badCertificatesAreRejectedClearly(_ fault: String) throws {
        let setup = try SecureServer.setup()
        // libpq checks the name it was given (host) against the certificate, and connects to hostaddr.
        let extra =
            fault == "wrong CA"
            ? ["sslrootcert": setup.otherCA] : ["host": "localhost", "hostaddr": "127.0.0.1"]
        let dsn = SecureServer.dsn(setup, extra)
        for connect in [
            { _ = try LogicalReplicationConnection(dsn) }, { _ = try PhysicalReplicationConnection(dsn) },
            { _ = try PGConnection(dsn) },
        ] as [() throws -> Void] {
            let error = try #require(throws: PGError.self) { try connect() }
            #expect(error.kind == .operational)
            #expect(error.message.contains("certificate"), "\(error.message)")
            if fault == "wrong host name" { #expect(error.message.contains("does not match host name")) }
            #expect(!error.message.contains(SecureServer.password))
        }
        var configuration = setup.rig.configuration(dsn: dsn)
        configuration.reconnect = ChangeStream.ReconnectPolicy(maxAttempts: 1, initialDelay: .seconds(0.01))
        let error = try #require(throws: ChangeStreamError.self) { try ChangeStream(configuration).consume { _ in } }
        #expect(error.kind == .reconnectFailed)
    }

    @Test(.requires(.ssl)) func scramRightAndWrongPasswords() throws {
        let setup = try SecureServer.setup()
        let good = try LogicalReplicationConnection(SecureServer.dsn(setup))
        #expect(try good.cursor().identifySystem().timeline >= 1)
        good.close()
        let wrong = SecureServer.dsn(setup, ["password": "not-the-password"])
        let error = try #require(throws: PGError.self) { _ = try LogicalReplicationConnection(wrong) }
        #expect(error.kind == .operational)
        #expect(error.message.contains("password authentication failed for user \"\(SecureServer.user)\""))
        let none = SecureServer.dsn(setup, ["password": ""])
        #expect(throws: PGError.self) { _ = try PGConnection(none) }
    }

    /// Every error text, every log line at trace level, and the connection's shown DSN, from
    /// failing and working connections alike: the password never appears.
    @Test(.requires(.ssl)) func thePasswordNeverLeaks() throws {
        let setup = try SecureServer.setup()
        let capture = LogCapture()
        let logger = capture.logger
        var texts: [String] = []
        func record(_ error: any Error) {
            texts += [String(describing: error), String(reflecting: error), error.localizedDescription]
            if let error = error as? ChangeStreamError, let underlying = error.underlying {
                texts += [underlying.description, underlying.debugDescription]
            }
        }
        let password = SecureServer.password
        let failing = [
            SecureServer.dsn(setup, ["password": password + "-wrong"]),  // the wrong one holds the right one
            SecureServer.dsn(setup, ["port": "1"]),
            SecureServer.dsn(setup, ["sslrootcert": setup.otherCA]),
            SecureServer.dsn(setup, ["sslmode": "bogus"]),
            SecureServer.dsn(setup) + " hots=x",
            SecureServer.dsn(setup) + " 'unterminated",
            "postgresql://\(SecureServer.user):hunter2-%27q%5C%20%C3%BC%3Bx@[::1/postgres",
        ]
        for dsn in failing {
            for connect in [
                { _ = try LogicalReplicationConnection(dsn, logger: logger) },
                { _ = try PhysicalReplicationConnection(dsn, logger: logger) },
                { _ = try PGConnection(dsn, logger: logger) },
            ] as [() throws -> Void] {
                do { try connect() } catch { record(error) }
            }
            var configuration = setup.rig.configuration(dsn: dsn)
            configuration.reconnect = ChangeStream.ReconnectPolicy(maxAttempts: 1, initialDelay: .seconds(0.01))
            do { try ChangeStream(configuration, logger: logger).consume { _ in } } catch { record(error) }
        }
        #expect(texts.count >= failing.count * 4)

        // A working connection and stream, logging at trace level.
        let connection = try LogicalReplicationConnection(SecureServer.dsn(setup), logger: logger)
        texts.append(connection.dsn)
        #expect(connection.dsn.contains("password=xxx"))
        let cursor = try connection.cursor()
        do { try cursor.execute("SELECT * FROM no_such_table") } catch { record(error) }
        connection.close()
        var configuration = setup.rig.configuration(dsn: SecureServer.dsn(setup))
        configuration.reconnect = .never
        let stream = ChangeStream(configuration, logger: logger)
        let recorder = Recorder(stream)
        try setup.rig.insertMarker()
        #expect(recorder.wait(seconds: 30))
        if let error = recorder.error { record(error) }
        try setup.rig.cluster.psql("DELETE FROM ev")

        let lines = capture.lines.withLock { $0 }
        #expect(lines.count > 10)
        texts += lines
        // The password, and its pieces long enough to be telling.
        let needles = [password, "hunter2", "%27q%5C"]
        for text in texts {
            for needle in needles { #expect(!text.contains(needle), "leaked in: \(text)") }
        }
    }
}
