import PGReplication
import Testing

@Suite struct ChangeStreamConfigurationTests {
    @Test func highestProtocolVersionFollowsTheServer() {
        #expect(ChangeStream.highestProtocolVersion(serverVersion: 130012) == 1)
        #expect(ChangeStream.highestProtocolVersion(serverVersion: 140005) == 2)
        #expect(ChangeStream.highestProtocolVersion(serverVersion: 150018) == 3)
        #expect(ChangeStream.highestProtocolVersion(serverVersion: 170002) == 4)
    }
}
