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

    /// A snapshot that sees every transaction but `running` (IDs below 1000).
    func snapshot(running: Set<UInt64> = []) -> ServerSnapshot {
        ServerSnapshot(xmin: running.min() ?? 1000, xmax: 1000, running: running)
    }

    /// A window tracking `table`, its low watermark passed, with a chunk of keys 1…5 read as
    /// sequence 1 under a snapshot that sees every transaction.
    func window(tracking events: [PGChangeEvent] = []) -> BackfillWindow {
        var window = BackfillWindow()
        for event in events { window.observe(event) }
        window.track(.init(oid: 100, key: ["a", "b"]))
        window.lowWatermark(sequence: 1)
        window.chunkRead(sequence: 1, keys: (1...5).map { key($0) }, snapshot: snapshot())
        return window
    }

    /// Chunk `sequence` of `keys`: its low watermark, then its read under `snapshot`.
    func read(
        _ window: inout BackfillWindow, _ sequence: Int, _ keys: [[PGValue]], snapshot: ServerSnapshot? = nil
    ) {
        window.lowWatermark(sequence: sequence)
        window.chunkRead(sequence: sequence, keys: keys, snapshot: snapshot ?? self.snapshot())
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

    @Test func theWindowClosesAtTheHighWatermarkAndTheNextOpensAtTheNextLowWatermark() {
        var window = window()
        window.observe(committed(7, [.insert(table: table, new: row(1))]))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [1, 2, 3, 4]))
        // Between the windows: the next chunk's read sees it, so its row is as new.
        window.observe(committed(8, [.insert(table: table, new: row(6))]))
        read(&window, 2, [key(6), key(7)])
        #expect(window.settle(sequence: 2) == .deliver(keeping: [0, 1]))
        // In the window: left out, whatever the snapshot sees.
        window.lowWatermark(sequence: 3)
        window.observe(committed(9, [.insert(table: table, new: row(8))]))
        window.chunkRead(sequence: 3, keys: [key(8), key(9)], snapshot: snapshot())
        #expect(window.settle(sequence: 3) == .deliver(keeping: [1]))
    }

    @Test func aTransactionBeforeTheWindowThatTheChunksSnapshotDoesNotSeeCounts() {
        // Delivered before the low watermark (its commit reached the stream), still running for
        // other sessions when the chunk was read: the chunk's row 2 is older than the change.
        var window = BackfillWindow()
        window.track(.init(oid: 100, key: ["a", "b"]))
        window.observe(committed(7, [.update(table: table, old: nil, oldIsKey: false, new: row(2))]))
        read(&window, 1, (1...3).map { key($0) }, snapshot: snapshot(running: [7]))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0, 2]))
        // It counts for every chunk until one's snapshot sees it, and is forgotten then.
        read(&window, 2, [key(2)], snapshot: snapshot(running: [7]))
        #expect(window.settle(sequence: 2) == .deliver(keeping: []))
        read(&window, 3, [key(2)])
        #expect(window.settle(sequence: 3) == .deliver(keeping: [0]))
        read(&window, 4, [key(2)], snapshot: snapshot(running: [7]))
        #expect(window.settle(sequence: 4) == .deliver(keeping: [0]), "forgotten once seen")
    }

    @Test func aTransactionInTheWindowCountsForTheNextChunkWhileUnseen() {
        // Committed in chunk 1's window after chunk 1's read, so unseen by it, and by chunk 2's.
        var window = BackfillWindow()
        window.track(.init(oid: 100, key: ["a", "b"]))
        window.lowWatermark(sequence: 1)
        window.chunkRead(sequence: 1, keys: (1...5).map { key($0) }, snapshot: snapshot(running: [7]))
        window.observe(committed(7, [.delete(table: table, old: row(6), oldIsKey: true)]))
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0, 1, 2, 3, 4]))
        read(&window, 2, [key(6)], snapshot: snapshot(running: [7]))
        #expect(window.settle(sequence: 2) == .deliver(keeping: []), "a deleted row came back")
    }

    @Test func aTruncateOrAnUnreadableKeyBeforeTheWindowCountsWhileUnseen() {
        var window = BackfillWindow()
        window.track(.init(oid: 100, key: ["a", "b"]))
        window.observe(committed(7, [.truncate(tables: [table], cascade: false, restartIdentity: false)]))
        read(&window, 1, [key(1)], snapshot: snapshot(running: [7]))
        #expect(window.settle(sequence: 1) == .deliver(keeping: []))
        let toasted = PGRow(columns: columns, values: [.int32(1), .unchangedToast, .text("v")])
        window.observe(committed(8, [.update(table: table, old: nil, oldIsKey: false, new: toasted)]))
        read(&window, 2, [key(1)], snapshot: snapshot(running: [8]))
        #expect(window.settle(sequence: 2) == .readAgain(.unreadableKey))
        read(&window, 3, [key(1)])
        #expect(window.settle(sequence: 3) == .deliver(keeping: [0]))
    }

    @Test func withoutASnapshotOnlyTheWindowCounts() {
        // DBLog's rule alone: what the backfill's visibility test shows losing a row.
        var window = BackfillWindow()
        window.track(.init(oid: 100, key: ["a", "b"]))
        window.observe(committed(7, [.update(table: table, old: nil, oldIsKey: false, new: row(2))]))
        window.lowWatermark(sequence: 1)
        window.chunkRead(sequence: 1, keys: [key(2)], snapshot: nil)
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0]))
    }

    @Test func snapshotsReadAsPostgreSQLWritesThem() throws {
        let snapshot = try #require(ServerSnapshot("10:20:12,15"))
        #expect(snapshot == ServerSnapshot(xmin: 10, xmax: 20, running: [12, 15]))
        #expect(snapshot.sees(9) && snapshot.sees(10) && snapshot.sees(13) && snapshot.sees(19))
        #expect(!snapshot.sees(12) && !snapshot.sees(15) && !snapshot.sees(20) && !snapshot.sees(4_000_000_000))
        #expect(ServerSnapshot("20:20:") == ServerSnapshot(xmin: 20, xmax: 20, running: []))
        for bad in ["", "1:2", "3:2:", "1:5:7", "1:5:x", "a:b:"] { #expect(ServerSnapshot(bad) == nil, "\(bad)") }
        // 32-bit IDs are read in the epoch nearest xmax, across a wraparound either way.
        let epoch: UInt64 = 1 << 32
        let wrapped = ServerSnapshot(xmin: epoch - 10, xmax: epoch + 5, running: [epoch - 3, epoch + 2])
        #expect(wrapped.sees(UInt32.max - 20) && !wrapped.sees(UInt32.max - 2) && wrapped.sees(UInt32.max))
        #expect(wrapped.sees(1) && !wrapped.sees(2) && !wrapped.sees(5))
        let early = ServerSnapshot(xmin: epoch - 5, xmax: epoch - 2, running: [])
        #expect(early.sees(UInt32.max - 5) && !early.sees(UInt32.max - 1) && !early.sees(3))
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
        read(&window, 2, [key(1)])
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
        read(&window, 2, [key(1), key(2)])
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
        read(&window, 2, [key(2)])
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
        read(&window, 2, [key(1)])
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

    @Test func aTransactionOpenWhenTrackingBeganCountsBeforeTheWindowOnlyWhileUnseen() {
        var seen = BackfillWindow()
        seen.observe(begin(7))
        seen.track(.init(oid: 100, key: ["a", "b"]))
        seen.observe(commit(7))
        read(&seen, 1, [key(1)])
        #expect(seen.settle(sequence: 1) == .deliver(keeping: [0]))
        var unseen = BackfillWindow()
        unseen.observe(begin(7))
        unseen.track(.init(oid: 100, key: ["a", "b"]))
        unseen.observe(commit(7))
        read(&unseen, 1, [key(1)], snapshot: snapshot(running: [7]))
        #expect(unseen.settle(sequence: 1) == .readAgain(.transactionBegunBefore))
    }

    @Test func theTransactionsCommittedBeforeTrackingAreListed() {
        var window = BackfillWindow()
        window.observe(committed(7, []))
        window.observe(committed(8, [], prepared: "g"))
        window.observe(begin(9))
        window.observe(commit(9))
        window.observe(begin(10))
        window.observe(.abort(PGTransactionAbort(xid: 10, subtransactionXID: 10)))
        window.observe(
            .commitPrepared(.init(gid: "g", xid: 8, commitLSN: 30, endLSN: 40, commitTime: .init(rawValue: 0))))
        window.track(.init(oid: 100, key: ["a", "b"]))
        #expect(window.committedBeforeTracking == [7, 9, 8])
        window.observe(committed(11, []))
        #expect(window.committedBeforeTracking == [7, 9, 8], "not after tracking began")
        // The last ones only, in a ring.
        var many = BackfillWindow()
        let count = UInt32(BackfillWindow.recentCapacity) + 3
        for xid in 1...count { many.observe(committed(xid, [])) }
        many.track(.init(oid: 100, key: ["a", "b"]))
        #expect(Set(many.committedBeforeTracking) == Set(4...count))
    }

    @Test func changesBeforeTrackingBeganDoNotCount() {
        var window = BackfillWindow()
        window.observe(committed(7, [.insert(table: table, new: row(1))]))
        window.track(.init(oid: 100, key: ["a", "b"]))
        read(&window, 1, [key(1)])
        #expect(window.settle(sequence: 1) == .deliver(keeping: [0]))
    }
}
