import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import Testing

/// At every start the stream compares the slot's confirmed position with its own
/// (``ChangeStream/SlotAheadPolicy``).
@Suite struct SlotPositionTests {
    private func values(_ events: [PGChangeEvent]) -> [String] {
        events.flatMap { event -> [String] in
            guard case .transaction(let transaction) = event else { return [] }
            return transaction.changes.compactMap { $0.newText("v") }
        }
    }

    /// Streams until `value` arrives, then stops: the slot has confirmed it.
    private func consume(_ fixture: StreamFixture, until value: String) throws {
        var configuration = fixture.configuration()
        configuration.reconnect = .never
        let running = RunningStream(configuration)
        #expect(running.wait { values($0).contains(value) })
        #expect(running.stop())
    }

    @Test(arguments: [ChangeStream.SlotAheadPolicy.warn, .fail])
    func aStartLSNBehindTheSlotFollowsThePolicy(policy: ChangeStream.SlotAheadPolicy) throws {
        let fixture = try StreamFixture()
        let before = try LSN(try TestServer.sql("SELECT pg_current_wal_lsn()").scalar ?? "")
        try fixture.insert(1, value: "first")
        try consume(fixture, until: "first")
        try fixture.insert(1, value: "second")
        var configuration = fixture.configuration()
        configuration.startLSN = before
        configuration.slotAhead = policy
        configuration.reconnect = .never
        let running = RunningStream(configuration)
        defer { running.stop() }
        switch policy {
        case .fail:
            #expect(running.waitEnded())
            let error = try #require(running.error as? ChangeStreamError, "\(String(describing: running.error))")
            #expect(error.kind == .slotMovedElsewhere)
            #expect(error.message.contains("past startLSN \(before)"))
        case .warn:
            // The server starts at the slot's position: "first" is not sent again.
            #expect(running.wait { values($0).contains("second") })
            #expect(values(running.received) == ["second"])
        }
    }

    @Test func aStartLSNAheadOfTheSlotSkipsWhatEndsBeforeIt() throws {
        let fixture = try StreamFixture()
        try fixture.insert(1, value: "handled before")
        let start = try LSN(try TestServer.sql("SELECT pg_current_wal_lsn()").scalar ?? "")
        try fixture.insert(1, value: "new")
        var configuration = fixture.configuration()
        configuration.startLSN = start
        configuration.reconnect = .never
        let running = RunningStream(configuration)
        defer { running.stop() }
        #expect(running.wait { values($0).contains("new") })
        #expect(values(running.received) == ["new"])
    }

    /// Between two connections of one stream, something else advanced the slot over a
    /// transaction: the stream fails rather than continue without it.
    @Test func aSlotMovedByAnotherWhileReconnectingIsAnError() throws {
        let fixture = try StreamFixture()
        var configuration = fixture.configuration()
        configuration.reconnect = .init(maxAttempts: 5, initialDelay: .seconds(3), maxDelay: .seconds(3))
        let running = RunningStream(configuration)
        defer { running.stop() }
        try fixture.insert(1, value: "handled")
        #expect(running.wait { values($0).contains("handled") })
        let pid = try #require(try TestServer.activePID(fixture.slot))
        try TestServer.sql("SELECT pg_terminate_backend(\(pid))")
        let inactive = try (0..<100).contains { _ in
            Thread.sleep(forTimeInterval: 0.02)
            return
                try TestServer.sql("SELECT active FROM pg_replication_slots WHERE slot_name = '\(fixture.slot)'")
                .scalar == "f"
        }
        #expect(inactive)
        try fixture.insert(1, value: "skipped by the advance")
        try TestServer.sql("SELECT pg_replication_slot_advance('\(fixture.slot)', pg_current_wal_lsn())")
        #expect(running.waitEnded())
        let error = try #require(running.error as? ChangeStreamError, "\(String(describing: running.error))")
        #expect(error.kind == .slotMovedElsewhere)
        #expect(!values(running.received).contains("skipped by the advance"))
    }
}
