import PGReplication
import Testing

@Suite struct ChangeStreamConfigurationTests {
    @Test func highestProtocolVersionFollowsTheServer() {
        #expect(ServerVersion(number: 130012).highestProtocolVersion == 1)
        #expect(ServerVersion(number: 140005).highestProtocolVersion == 2)
        #expect(ServerVersion(number: 150018).highestProtocolVersion == 3)
        #expect(ServerVersion(number: 170002).highestProtocolVersion == 4)
    }
}

/// The reconnect budget, with no server: by count, by time, whichever ends first, and the delay.
@Suite struct ReconnectPolicyTests {
    @Test func neverAllowsNoAttempt() {
        #expect(ChangeStream.ReconnectPolicy.never.exhausted(attempt: 1, failingFor: .seconds(0)) == "0 attempts")
    }

    @Test func aBudgetByCountEndsAfterItsLastAttempt() {
        let policy = ChangeStream.ReconnectPolicy(maxAttempts: 3)
        #expect((1...3).allSatisfy { policy.exhausted(attempt: $0, failingFor: .seconds(3600)) == nil })
        #expect(policy.exhausted(attempt: 4, failingFor: .seconds(0)) == "3 attempts")
    }

    @Test func aBudgetByTimeEndsOnceItIsSpent() {
        let policy = ChangeStream.ReconnectPolicy(maxDuration: .seconds(120))
        #expect(policy.exhausted(attempt: 1000, failingFor: .seconds(119.9)) == nil)
        #expect(policy.exhausted(attempt: 12, failingFor: .seconds(120.4)) == "11 attempts in 120 s")
    }

    @Test func theFirstBudgetSpentEndsIt() {
        let policy = ChangeStream.ReconnectPolicy(maxAttempts: 5, maxDuration: .seconds(10))
        #expect(policy.exhausted(attempt: 6, failingFor: .seconds(1)) == "5 attempts")
        #expect(policy.exhausted(attempt: 2, failingFor: .seconds(11)) == "1 attempts in 11 s")
        #expect(
            ChangeStream.ReconnectPolicy().exhausted(attempt: 1_000_000, failingFor: .seconds(1e9)) == nil, "no budget")
    }

    @Test func theDelayDoublesWithJitterUpToItsCeiling() {
        let policy = ChangeStream.ReconnectPolicy(initialDelay: .seconds(0.2), maxDelay: .seconds(1))
        for _ in 0..<100 {
            #expect((Duration.milliseconds(100)...Duration.milliseconds(200)).contains(policy.delay(attempt: 1)))
            #expect((Duration.milliseconds(200)...Duration.milliseconds(400)).contains(policy.delay(attempt: 2)))
            #expect((Duration.milliseconds(500)...Duration.seconds(1)).contains(policy.delay(attempt: 10)))
        }
    }
}

/// `ChangeStreamError.Kind` grows without breaking clients: a struct whose kinds match as enum
/// cases did, print their names, and need a `default` in a `switch`.
@Suite struct ChangeStreamErrorKindTests {
    @Test func kindsMatchAndPrintTheirNames() {
        let kind = ChangeStreamError.Kind.slotInvalidated
        let matched: String =
            switch kind {
            case .slotMissing: "missing"
            case .slotInvalidated: "invalidated"
            default: "other"
            }
        #expect(matched == "invalidated")
        #expect(kind != .slotMissing)
        #expect("\(ChangeStreamError.Kind.backfillFailed)" == "backfillFailed")
    }
}
