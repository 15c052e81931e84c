import Foundation
import PGReplication
import Testing

/// The one table of which version brings what, with no server.
@Suite struct ServerVersionTests {
    @Test func versionsReadAsTheServerPrintsThem() {
        let version = ServerVersion(number: 170002)
        #expect(version.major == 17)
        #expect(version.description == "17.2")
        #expect(ServerVersion(number: 150018) < version)
    }

    @Test func featuresFollowTheirVersion() {
        let fifteen = ServerVersion(number: 150018)
        #expect(fifteen.supports(.protocol3TwoPhase))
        #expect(fifteen.supports(.logicalDecodingMessages))
        #expect(!fifteen.supports(.protocol4ParallelStreaming))
        #expect(!fifteen.supports(.failoverSlots))
        #expect(ServerVersion(number: 180001).supports(.alterSlotTwoPhase))
        for feature in ServerFeature.allCases {
            #expect(ServerVersion(number: feature.since * 10000).supports(feature))
            #expect(!ServerVersion(number: feature.since * 10000 - 1).supports(feature))
        }
    }

    @Test func requireNamesTheVersionNeededAndTheServers() {
        #expect(throws: PGError.self) { try ServerVersion(number: 160004).require(.failoverSlots) }
        do {
            try ServerVersion(number: 160004).require(.failoverSlots, "a failover slot")
            Issue.record("no error")
        } catch {
            #expect(error.kind == .notSupported)
            #expect(error.message == "a failover slot needs PostgreSQL 17 or later; the server is 16.4")
        }
        #expect(throws: Never.self) { try ServerVersion(number: 170000).require(.failoverSlots) }
    }

    @Test func theHighestProtocolFollowsTheServer() {
        #expect(ServerVersion(number: 130012).highestProtocolVersion == 1)
        #expect(ServerVersion(number: 140005).highestProtocolVersion == 2)
        #expect(ServerVersion(number: 150018).highestProtocolVersion == 3)
        #expect(ServerVersion(number: 170002).highestProtocolVersion == 4)
        #expect(ServerFeature.needed(for: .on)?.protocolVersion == 2)
        #expect(ServerFeature.needed(for: .parallel)?.protocolVersion == 4)
        #expect(ServerFeature.needed(for: .off) == nil)
    }

    /// The documentation lists the table as the code has it.
    @Test func theDocumentationListsTheTable() throws {
        let article = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(
                "Sources/PGReplication/Documentation.docc/ServerVersionsAndFailover.md")
        let text = try String(contentsOf: article, encoding: .utf8)
        #expect(
            text.contains(ServerFeature.markdownTable),
            "ServerVersionsAndFailover.md must contain the table as the code has it:\n\(ServerFeature.markdownTable)")
    }
}
