import PGOutput
import Testing

@testable import PGReplicationCore

/// The backfill's DBLog rule with no server: one test per rule of `BackfillWindow`.
@Suite struct BackfillWindowTests {
    let columns = [
        RelationColumn(flags: 1, name: "a", typeOID: 23, typeModifier: -1),
        RelationColumn(flags: 1, name: "b", typeOID: 25, typeModifier: -1),
        RelationColumn(flags: 0, name: "v", typeOID: 25, typeModifier: -1),
    ]
    var table: PGTable { PGTable(oid: 100, schema: "public", name: "t", columns: columns) }
    var other: PGTable { PGTable(oid: 200, schema: "public", name: "u", columns: columns) }

    /// A composite key (a, b), so that the rule is shown to match whole keys.
    func row(_ a: Int32, _ b: String = "x", v: PGValue = .text("v")) -> PGRow {
        PGRow(columns: columns, values: [.int32(a), .text(b), v])
    }
    func key(_ a: Int32, _ b: String = "x") -> [PGValue] { [.int32(a), .text(b)] }

    /// A window tracking `table`, with a chunk of keys 1…5 read as sequence 1.
    func window(tracking events: [PGChangeEvent] = []) -> BackfillWindow {
        var window = BackfillWindow()
        for event in events { window.observe(event) }
        window.track(.init(oid: 100, key: ["a", "b"]))
        window.chunkRead(sequence: 1, keys: (1...5).map { key($0) })
        return window
    }

    func committed(_ xid: UInt32, _ changes: [PGChange], prepared gid: String? = nil) -> PGChangeEvent {
        .transaction(
            PGTransaction(
                kind: gid.map { .prepare(gid: $0) } ?? .commit, xid: xid, commitLSN: 10, endLSN: 20,
                commitTime: .init(rawValue: 0), origin: nil, isStreamed: false, changes: changes))
    }
    func commit(_ xid: UInt32) -> PGChangeEvent {
        .commit(
            PGTransaction(
                kind: .commit, xid: xid, commitLSN: 10, endLSN: 20, commitTime: .init(rawValue: 0), origin: nil,
                isStreamed: true, changes: []))
    }
    func begin(_ xid: UInt32) -> PGChangeEvent {
        .begin(PGTransactionBegin(xid: xid, finalLSN: 0, commitTime: nil, isStreamed: true))
    }
    func changes(_ xid: UInt32, sub: UInt32? = nil, _ changes: [PGChange]) -> PGChangeEvent {
        .changes(PGChangeBatch(xid: xid, subtransactionXID: sub ?? xid, changes: changes))
    }

    @Test func aChunkWithNoChangeInItsWindowIsDeliveredWhole() {
        var window = window()
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0, 1, 2, 3, 4]))
    }

    @Test func rowsTouchedInTheWindowAreLeftOut() {
        var window = window()
        window.observe(
            committed(
                7,
                [
                    .insert(table: table, new: row(2)),
                    .update(table: table, old: nil, oldIsKey: false, new: row(3, v: .text("new"))),
                    .delete(table: table, old: row(5), oldIsKey: true),
                    // Another table's change and another key's half are no match.
                    .insert(table: other, new: row(1)),
                    .insert(table: table, new: row(4, "y")),
                ]))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0, 3]))
    }

    @Test func anUpdateThatMovesAKeyTouchesBothKeys() {
        var window = window()
        window.observe(committed(7, [.update(table: table, old: row(1), oldIsKey: true, new: row(4))]))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [1, 2, 4]))
    }

    @Test func theWindowClosesAtTheHighWatermarkAndTheNextOpensThere() {
        var window = window()
        window.observe(committed(7, [.insert(table: table, new: row(1))]))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [1, 2, 3, 4]))
        // A change between this high watermark and the next chunk's low watermark counts for it.
        window.observe(committed(8, [.insert(table: table, new: row(6))]))
        window.chunkRead(sequence: 2, keys: [key(6), key(7)])
        #expect(window.settle(sequence: 2) == .deliver(keeping: [1]))
    }

    @Test func aWatermarkThatIsNotTheChunkInFlightSettlesNothing() {
        var window = window()
        #expect(window.settle(sequence: 2) == nil)
        #expect(window.settle(sequence: 1) != nil)
        #expect(window.settle(sequence: 1) == nil, "settled twice")
        var dropped = self.window()
        dropped.dropChunk()
        #expect(dropped.settle(sequence: 1) == nil)
        var untracked = self.window()
        untracked.untrack()
        #expect(untracked.settle(sequence: 1) == nil)
    }

    @Test func aTruncateOfTheTableLeavesNoRow() {
        var window = window()
        window.observe(committed(7, [.truncate(tables: [other, table], cascade: false, restartIdentity: false)]))
        #expect(window.settle(sequence: 1) == .deliver(keeping: []))
        var otherTable = self.window()
        otherTable.observe(committed(7, [.truncate(tables: [other], cascade: false, restartIdentity: false)]))
        #expect(otherTable.settle(sequence: 1) == .deliver(keeping: [0, 1, 2, 3, 4]))
    }

    @Test func anUnchangedToastedKeyReadsTheChunkAgain() {
        var window = window()
        let toasted = PGRow(columns: columns, values: [.int32(1), .unchangedToast, .text("v")])
        window.observe(committed(7, [.update(table: table, old: nil, oldIsKey: false, new: toasted)]))
        #expect(window.settle(sequence: 1) == .readAgain(.unreadableKey))
        // The next window starts clean.
        window.chunkRead(sequence: 2, keys: [key(1)])
        #expect(window.settle(sequence: 2) == .deliver(keeping: [0]))
    }

    @Test func aKeyColumnTheChangeLacksReadsTheChunkAgain() {
        var window = window()
        let partial = PGRow(columns: Array(columns.prefix(1)), values: [.int32(1)])
        window.observe(committed(7, [.delete(table: table, old: partial, oldIsKey: true)]))
        #expect(window.settle(sequence: 1) == .readAgain(.unreadableKey))
    }

    @Test func aStreamedTransactionCountsAtItsCommit() {
        var window = window()
        window.observe(begin(7))
        window.observe(changes(7, [.insert(table: table, new: row(2))]))
        // Not committed at this high watermark: the row is the copy's, and stays.
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0, 1, 2, 3, 4]))
        window.chunkRead(sequence: 2, keys: [key(1), key(2)])
        window.observe(commit(7))
        #expect(window.settle(sequence: 2) == .deliver(keeping: [0]))
    }

    @Test func anAbortedTransactionTouchesNothing() {
        var window = window()
        window.observe(begin(7))
        window.observe(changes(7, [.insert(table: table, new: row(2))]))
        window.observe(.abort(PGTransactionAbort(xid: 7, subtransactionXID: 7)))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0, 1, 2, 3, 4]))
    }

    @Test func anAbortedSubtransactionsChangesAreVoid() {
        var window = window()
        window.observe(begin(7))
        window.observe(changes(7, [.insert(table: table, new: row(1))]))
        window.observe(changes(7, sub: 8, [.insert(table: table, new: row(2))]))
        window.observe(changes(7, sub: 9, [.insert(table: table, new: row(3))]))
        window.observe(.abort(PGTransactionAbort(xid: 7, subtransactionXID: 8)))
        window.observe(commit(7))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [1, 3, 4]))
    }

    @Test func aPreparedTransactionCountsAtCommitPrepared() {
        var window = window()
        window.observe(committed(7, [.insert(table: table, new: row(2))], prepared: "g"))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0, 1, 2, 3, 4]), "prepared only")
        window.chunkRead(sequence: 2, keys: [key(2)])
        window.observe(
            .commitPrepared(.init(gid: "g", xid: 7, commitLSN: 30, endLSN: 40, commitTime: .init(rawValue: 0))))
        #expect(window.settle(sequence: 2) == .deliver(keeping: []))
    }

    @Test func aRolledBackPreparedTransactionTouchesNothing() {
        var window = window()
        window.observe(committed(7, [.insert(table: table, new: row(2))], prepared: "g"))
        window.observe(.rollbackPrepared(.init(gid: "g", xid: 7, endLSN: 40, rollbackTime: .init(rawValue: 0))))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0, 1, 2, 3, 4]))
    }

    @Test func aTransactionOpenWhenTrackingBeganReadsTheChunkAgainAtItsCommit() {
        // Its changes before tracking began were never seen, so the window cannot know its keys.
        var window = window(tracking: [begin(7), changes(7, [.insert(table: table, new: row(2))])])
        window.observe(commit(7))
        #expect(window.settle(sequence: 1) == .readAgain(.transactionBegunBefore))
        // Known from then on: a second chunk is settled normally.
        window.chunkRead(sequence: 2, keys: [key(1)])
        #expect(window.settle(sequence: 2) == .deliver(keeping: [0]))
    }

    @Test func aTransactionPreparedWhenTrackingBeganReadsTheChunkAgainAtCommitPrepared() {
        var window = window(tracking: [committed(7, [.insert(table: table, new: row(2))], prepared: "g")])
        window.observe(
            .commitPrepared(.init(gid: "g", xid: 7, commitLSN: 30, endLSN: 40, commitTime: .init(rawValue: 0))))
        #expect(window.settle(sequence: 1) == .readAgain(.transactionBegunBefore))
    }

    @Test func aTransactionBegunBeforeThatAbortsChangesNothing() {
        var window = window(tracking: [begin(7)])
        window.observe(.abort(PGTransactionAbort(xid: 7, subtransactionXID: 7)))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0, 1, 2, 3, 4]))
        var prepared = self.window(tracking: [committed(8, [], prepared: "g")])
        prepared.observe(.rollbackPrepared(.init(gid: "g", xid: 8, endLSN: 40, rollbackTime: .init(rawValue: 0))))
        #expect(prepared.settle(sequence: 1) == .deliver(keeping: [0, 1, 2, 3, 4]))
    }

    @Test func aTransactionFinishedBeforeTrackingBeganIsNoUnknown() {
        var window = window(tracking: [begin(7), commit(7)])
        window.observe(commit(7))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0, 1, 2, 3, 4]))
    }

    @Test func changesBeforeTrackingBeganDoNotCount() {
        var window = BackfillWindow()
        window.observe(committed(7, [.insert(table: table, new: row(1))]))
        window.track(.init(oid: 100, key: ["a", "b"]))
        window.chunkRead(sequence: 1, keys: [key(1)])
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0]))
    }
}
