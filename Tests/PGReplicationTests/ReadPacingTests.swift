import Testing

@testable import PGReplication

/// `consumeStream`'s read pacing: the coalescing pause where the stream is busy, none on a quiet
/// stream between transactions (where it only delayed the next transaction by up to the pause).
@Suite struct ReadPacingTests {
    private func next(
        afterSocketRead: Bool = false, sinceRead: Int, coalescing: Double? = 0.000_2, between: Bool
    ) -> ReplicationCursor.NextRead {
        ReplicationCursor.nextRead(
            afterSocketRead: afterSocketRead, sinceRead: sinceRead, coalescing: coalescing,
            betweenTransactions: between)
    }

    @Test func aQuietStreamBetweenTransactionsPollsAtOnce() {
        // A begin, a change and a commit came in one read, and the commit was handled.
        #expect(next(sinceRead: 3, between: true) == .poll)
        #expect(next(sinceRead: ReplicationCursor.quietRead, between: true) == .poll)
    }

    @Test func aBusyStreamPausesSoThatTheNextBatchGathers() {
        #expect(next(sinceRead: 3, between: false) == .pause(0.000_2))
        #expect(next(sinceRead: ReplicationCursor.quietRead + 1, between: true) == .pause(0.000_2))
        #expect(next(sinceRead: ReplicationCursor.coalescingLimit - 1, between: true) == .pause(0.000_2))
    }

    @Test func manyMessagesARead() {
        #expect(next(sinceRead: ReplicationCursor.coalescingLimit, between: false) == .readAgain)
        #expect(next(sinceRead: 500, between: true) == .readAgain)
    }

    @Test func aSocketReadThatFoundNothingAndNoCoalescingPoll() {
        #expect(next(afterSocketRead: true, sinceRead: 30, between: false) == .poll)
        #expect(next(sinceRead: 30, coalescing: nil, between: false) == .poll)
        #expect(next(sinceRead: 500, coalescing: nil, between: false) == .poll)
    }

}
