import PGOutput
import Testing

@testable import PGReplication

/// Which events the visibility gate holds, and at which transaction and commit position.
@Suite struct VisibilityCheckTests {
    func transaction(_ kind: PGTransaction.Kind, streamed: Bool = false) -> PGTransaction {
        PGTransaction(
            kind: kind, xid: 7, commitLSN: 100, endLSN: 120, commitTime: .init(rawValue: 0), origin: nil,
            isStreamed: streamed, changes: [])
    }

    @Test func aCommittedTransactionIsHeldAtItsFirstEvent() {
        #expect(VisibilityCheck.commit(of: .transaction(transaction(.commit)))! == (7, 100))
        // Chunked delivery: at its begin, which carries the commit's position.
        let begin = PGTransactionBegin(xid: 7, finalLSN: 100, commitTime: nil, isStreamed: false)
        #expect(VisibilityCheck.commit(of: .begin(begin))! == (7, 100))
        #expect(VisibilityCheck.commit(of: .commit(transaction(.commit)))! == (7, 100))
    }

    @Test func aStreamedOrPreparedTransactionIsHeldAtItsCommit() {
        let streamed = PGTransactionBegin(xid: 7, finalLSN: 0, commitTime: nil, isStreamed: true)
        let prepared = PGTransactionBegin(xid: 7, finalLSN: 90, commitTime: nil, isStreamed: false, isPrepared: true)
        #expect(VisibilityCheck.commit(of: .begin(streamed)) == nil)
        #expect(VisibilityCheck.commit(of: .begin(prepared)) == nil)
        #expect(VisibilityCheck.commit(of: .transaction(transaction(.prepare(gid: "g")))) == nil)
        #expect(VisibilityCheck.commit(of: .commit(transaction(.commit, streamed: true)))! == (7, 100))
        let commitPrepared = PGCommitPrepared(
            gid: "g", xid: 7, commitLSN: 200, endLSN: 220, commitTime: .init(rawValue: 0))
        #expect(VisibilityCheck.commit(of: .commitPrepared(commitPrepared))! == (7, 200))
    }

    @Test func otherEventsPass() {
        #expect(VisibilityCheck.commit(of: .changes(PGChangeBatch(xid: 7, subtransactionXID: 7, changes: []))) == nil)
        #expect(
            VisibilityCheck.commit(
                of: .message(PGLogicalDecodingMessage(isTransactional: false, lsn: 1, prefix: "p", content: []))) == nil
        )
    }
}
