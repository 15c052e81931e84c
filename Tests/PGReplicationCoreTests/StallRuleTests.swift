import Foundation
import Testing

@testable import PGReplicationCore

/// The heartbeat stall rule with no server and a fake clock: one test per rule of `StallRule`.
@Suite struct StallRuleTests {
    let date = Date(timeIntervalSince1970: 1_000)

    func rule(written: [(UInt64, Double)] = [(1, 100)]) -> StallRule {
        var rule = StallRule(deadline: 10)
        for (sequence, time) in written {
            rule.emitted(sequence, at: time, date: date.addingTimeInterval(time), lsn: "0/\(sequence)")
        }
        return rule
    }

    @Test func aHeartbeatBackWithinTheDeadlineIsNoStall() {
        var rule = rule()
        #expect(rule.check(at: 109, connected: true) == nil)
        #expect(rule.returned(1, at: 109.5) == .init(roundTrip: 9.5, recovered: false))
        #expect(rule.check(at: 200, connected: true) == nil, "nothing outstanding")
    }

    @Test func aHeartbeatOverdueIsAStallReportedOnce() throws {
        var rule = rule(written: [(1, 100), (2, 105)])
        let checked = rule.check(at: 110.5, connected: true)
        let stall = try #require(checked)
        #expect(stall.since == date.addingTimeInterval(100), "the oldest heartbeat")
        #expect(stall.overdue == 10.5)
        #expect(stall.explanation.contains("0/1") && stall.explanation.contains("10 s"))
        #expect(rule.isStalled)
        #expect(rule.check(at: 130, connected: true) == nil, "reported once")
        let first = rule.takePending()
        let second = rule.takePending()
        #expect(first == stall)
        #expect(second == nil, "taken once")
    }

    @Test func theNextHeartbeatBackEndsTheStall() {
        var rule = rule()
        #expect(rule.check(at: 111, connected: true) != nil)
        #expect(rule.returned(1, at: 112) == .init(roundTrip: 12, recovered: true))
        #expect(!rule.isStalled)
        #expect(rule.takePending() == nil, "a stall ended before delivery is not delivered")
        rule.emitted(2, at: 120, date: date, lsn: "0/2")
        #expect(rule.check(at: 131, connected: true) != nil, "a new stall is reported again")
    }

    @Test func aHeartbeatBackSettlesEveryEarlierOne() {
        var rule = rule(written: [(1, 100), (2, 105), (3, 108)])
        _ = rule.returned(2, at: 106)
        // Heartbeat 1 is no longer waited for; 3 is, from 108.
        #expect(rule.check(at: 117, connected: true) == nil)
        let stall = rule.check(at: 118.5, connected: true)
        #expect(stall?.overdue == 10.5)
    }

    @Test func aDisconnectedStreamIsNeverStalled() {
        var rule = rule()
        #expect(rule.check(at: 200, connected: false) == nil)
        #expect(!rule.isStalled)
        #expect(rule.check(at: 200, connected: true) != nil)
    }

    @Test func aNewConnectionForgetsWhatWasWritten() {
        var rule = rule()
        rule.reset()
        #expect(rule.check(at: 200, connected: true) == nil)
        #expect(rule.returned(1, at: 201) == .init(roundTrip: nil, recovered: false), "not written by this connection")
    }
}
