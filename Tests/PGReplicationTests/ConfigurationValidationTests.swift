import Foundation
import Testing

@testable import PGReplication

/// Bad configuration is a clear error before anything connects: on the first release a zero
/// snapshot batch looped forever, a NaN reconnect delay trapped and a negative one made `poll`
/// wait forever. (The times are `Duration`s now: a NaN or an infinite one cannot be written.)
@Suite struct ConfigurationValidationTests {
    static let base = ChangeStream.Configuration(dsn: "host=/nonexistent", slot: "s", publications: ["p"])

    static let bad: [(String, @Sendable (inout ChangeStream.Configuration) -> Void)] = [
        ("snapshotBatchSize", { $0.snapshotBatchSize = 0 }),
        ("snapshotBatchSize", { $0.snapshotBatchSize = -5 }),
        ("initialSnapshotWorkers", { $0.initialSnapshotWorkers = 0 }),
        ("initialSnapshotWorkers", { $0.initialSnapshotWorkers = 65 }),
        ("reconnect.initialDelay", { $0.reconnect.initialDelay = .seconds(-1) }),
        ("reconnect.maxDelay", { $0.reconnect = .init(initialDelay: .seconds(5), maxDelay: .seconds(1)) }),
        ("reconnect.maxAttempts", { $0.reconnect.maxAttempts = -1 }),
        ("statusInterval", { $0.statusInterval = .seconds(0.5) }),
        ("bufferSize", { $0.bufferSize = 0 }),
        ("receiveTimeout", { $0.receiveTimeout = .seconds(0) }),
        ("protocolVersion", { $0.protocolVersion = 5 }),
        ("delivery", { $0.delivery = .chunked(batchSize: 0) }),
        ("publications", { $0.publications = [] }),
        ("slot", { $0.slot = "" }),
        ("slot", { $0.slot = String(repeating: "s", count: 64) }),
        ("reconnect.maxDuration", { $0.reconnect.maxDuration = .seconds(-1) }),
        ("heartbeat.interval", { $0.heartbeat = .init(interval: .microseconds(1)) }),
        (
            "streaming",
            {
                $0.streaming = .parallel
                $0.protocolVersion = 3
            }
        ),
        (
            "streaming",
            {
                $0.streaming = .on
                $0.protocolVersion = 1
            }
        ),
        (
            "failoverSlot",
            {
                $0.failoverSlot = true
                $0.temporarySlot = true
            }
        ),
        ("publishGeneratedColumns", { $0.publishGeneratedColumns = true }),
        (
            "unchangedToast",
            {
                $0.unchangedToast = .reselect
                $0.delivery = .chunked(batchSize: 10)
                $0.streaming = .on
            }
        ),
    ]

    @Test(arguments: 0..<bad.count)
    func badValuesAreRefusedBeforeConnecting(index: Int) {
        let (setting, change) = Self.bad[index]
        var configuration = Self.base
        change(&configuration)
        let started = Date()
        do {
            try ChangeStream(configuration).consume { _ in }
            Issue.record("\(setting): accepted")
        } catch let error as PGError {
            #expect(error.kind == .programming)
            #expect(error.message.contains("ChangeStream.Configuration.\(setting) must be"), "\(error.message)")
        } catch {
            Issue.record("\(setting): \(error)")
        }
        #expect(Date().timeIntervalSince(started) < 1)
    }

    @Test func theDefaultsAreValid() throws {
        try Self.base.validate()
    }

    @Test func replicationConnectionsPinTheValueFormats() throws {
        let pinned = "-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3"
        let plain = try ReplicationConnection.parameters(dsn: "host=db", for: .logical)
        #expect(plain.pairs.last { $0.key == "options" }?.value == pinned)
        let given = try ReplicationConnection.parameters(
            dsn: "host=db options='-c DateStyle=German -c wal_sender_timeout=1s'", for: .logical)
        // The pinned settings come last, so they win over the DSN's own.
        #expect(
            given.pairs.last { $0.key == "options" }?.value == "-c DateStyle=German -c wal_sender_timeout=1s " + pinned)
    }

    @Test func everySecretIsMaskedInTheShownDSN() throws {
        let shown = try ReplicationConnection.parameters(
            dsn: "host=db password=hunter2 sslpassword=keypass sslkey=/k.pem", for: .logical
        ).redacted
        #expect(!shown.contains("hunter2"))
        #expect(!shown.contains("keypass"))
        #expect(shown.contains("password=xxx"))
        #expect(shown.contains("sslpassword=xxx"))
        #expect(shown.contains("sslkey=/k.pem"))
    }
}
