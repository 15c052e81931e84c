import PGOutput
import Testing

@testable import PGReplicationCore

/// The feedback rules, each driven by scripted frames and a fake clock (no server).
@Suite struct FeedbackMachineTests {
    /// A scripted stream: frames and confirmations at given times, with every report kept.
    struct Script {
        var machine: FeedbackMachine
        var now: Double = 100
        var reports: [FeedbackMachine.Report] = []
        var lastAction: FeedbackMachine.Action?

        init(_ settings: FeedbackMachine.Settings = .init()) {
            machine = FeedbackMachine(settings: settings)
            // The engine's first read: the first status update goes out at once (rule 3).
            apply(.started)
            apply(.tick())
        }

        mutating func apply(_ event: FeedbackMachine.Event) {
            let action = machine.handle(event, now: now)
            lastAction = action
            if let report = action.report { reports.append(report) }
        }

        /// An XLogData frame (on a logical stream dataStart and walEnd are equal).
        mutating func data(_ dataStart: LSN, walEnd: LSN? = nil) {
            apply(
                .received(
                    .xLogData(
                        XLogDataHeader(dataStart: dataStart, walEnd: walEnd ?? dataStart, sendTime: .init(rawValue: 0)))
                ))
        }

        /// The consumer is back for more: it handled every frame received.
        mutating func handled() { apply(.handled) }

        mutating func keepalive(_ walEnd: LSN, reply: Bool = false) {
            apply(
                .received(
                    .keepalive(PrimaryKeepalive(walEnd: walEnd, sendTime: .init(rawValue: 0), replyRequested: reply))))
        }

        mutating func confirm(flush: LSN, force: Bool = false, reply: Bool = false) {
            apply(.confirmed(flush: flush, force: force, reply: reply))
        }

        mutating func advance(_ seconds: Double) {
            now += seconds
            apply(.tick())
        }

        var lastReport: FeedbackMachine.Report? { reports.last }
    }

    // MARK: - Rule 1: maxima

    @Test func confirmedPositionsNeverMoveBack() {
        var script = Script()
        script.apply(.confirmed(write: 50, flush: 40, apply: 30))
        script.apply(.confirmed(write: 10, flush: 20, apply: 5))
        #expect(script.machine.writeLSN == 50)
        #expect(script.machine.flushLSN == 40)
        #expect(script.machine.applyLSN == 30)
        #expect(script.machine.confirmedFlushLSN == 40)
    }

    // MARK: - Rule 2: write covers flush

    @Test func reportedWriteIsNeverBelowFlush() {
        var script = Script()
        script.confirm(flush: 0x500, force: true)
        #expect(script.lastReport == .init(write: 0x500, flush: 0x500, apply: 0, replyRequested: false))
    }

    // MARK: - Rule 3: timed updates

    @Test func firstUpdateGoesOutAtOnceThenEveryInterval() {
        var script = Script(.init(statusInterval: 10))
        #expect(script.reports.count == 1)
        script.advance(9.9)
        #expect(script.reports.count == 1)
        script.advance(0.1)
        #expect(script.reports.count == 2)
        #expect(script.lastAction?.deadline == script.now + 10)
    }

    @Test func theDeadlineIsTheNextTimedUpdate() {
        var machine = FeedbackMachine(settings: .init(statusInterval: 5))
        #expect(machine.deadline == -.infinity)
        _ = machine.handle(.tick(), now: 20)
        #expect(machine.deadline == 25)
    }

    // MARK: - Rule 4: replies

    @Test func keepaliveAskingForReplyIsAnsweredAtOnce() {
        var script = Script()
        script.now += 1
        script.keepalive(0x100, reply: false)
        #expect(script.reports.count == 1)
        script.keepalive(0x200, reply: true)
        #expect(script.reports.count == 2)
        #expect(script.lastReport?.replyRequested == false)
    }

    // MARK: - Rule 5: flush forwarding

    @Test func keepaliveForwardsFlushWhenEverythingReceivedWasConfirmed() {
        var script = Script()
        script.data(0x100)
        script.confirm(flush: 0x100)
        script.handled()
        script.keepalive(0x300)
        #expect(script.machine.flushLSN == 0x300)
        #expect(script.machine.confirmedFlushLSN == 0x100)
    }

    @Test func keepaliveDoesNotForwardPastUnconfirmedData() {
        var script = Script()
        script.data(0x100)
        script.data(0x200)
        script.confirm(flush: 0x100)
        script.handled()
        script.keepalive(0x300)
        #expect(script.machine.flushLSN == 0x100)
    }

    @Test func forwardingCanBeTurnedOff() {
        var script = Script(.init(automaticFlush: false))
        script.data(0x100)
        script.confirm(flush: 0x100)
        script.handled()
        script.keepalive(0x300)
        #expect(script.machine.flushLSN == 0x100)
    }

    @Test func forwardingHeldByTheFenceDoesNotMoveFlush() {
        var script = Script()
        script.data(0x100)
        script.confirm(flush: 0x100)
        script.handled()
        script.machine.forwardingHeld = true
        script.keepalive(0x300)
        #expect(script.machine.flushLSN == 0x100)
        script.machine.forwardingHeld = false
        script.keepalive(0x300)
        #expect(script.machine.flushLSN == 0x300)
    }

    @Test func anIdleStreamForwardsToTheServersWALEnd() {
        var script = Script()
        script.keepalive(0x900)
        #expect(script.machine.flushLSN == 0x900)
    }

    @Test func forwardingNeverMovesFlushBack() {
        var script = Script()
        script.confirm(flush: 0x500)
        script.keepalive(0x400)
        #expect(script.machine.flushLSN == 0x500)
    }

    /// The keeper reads a keepalive while the consumer still has frames in hand: the forwarding
    /// waits, and happens once the consumer handled them (and confirmed what they held).
    @Test func keepaliveWhileFramesAreUnhandledForwardsOnlyOnceTheyAre() {
        var script = Script()
        script.data(0x100)
        script.confirm(flush: 0x100)
        script.handled()
        script.data(0x80)  // T2's Begin, below what was confirmed, in the consumer's hands
        #expect(script.machine.deliveryPending)
        script.keepalive(0x300)
        #expect(script.machine.flushLSN == 0x100)
        #expect(script.machine.waitingForwardWALEnd == 0x300)
        // A stop right now reports only what was confirmed.
        script.apply(.stopping)
        #expect(script.lastReport?.flush == 0x100)
    }

    @Test func aWaitingForwardHappensWhenTheConsumerIsBack() {
        var script = Script()
        script.data(0x100)
        script.keepalive(0x300)
        script.confirm(flush: 0x100)
        #expect(script.machine.flushLSN == 0x100)
        script.handled()
        #expect(script.machine.flushLSN == 0x300)
        #expect(script.machine.waitingForwardWALEnd == nil)
    }

    @Test func aWaitingForwardStillRespectsTheFence() {
        var script = Script()
        script.data(0x100)
        script.keepalive(0x300)
        script.confirm(flush: 0x100)
        script.machine.forwardingHeld = true
        script.handled()
        #expect(script.machine.flushLSN == 0x100)
    }

    @Test func foldedDataFramesEqualFramesOneByOne() {
        var oneByOne = Script()
        oneByOne.data(0x300, walEnd: 0x300)
        oneByOne.data(0x100, walEnd: 0x100)
        oneByOne.data(0x200, walEnd: 0x200)
        var folded = Script()
        folded.apply(.receivedData(highestDataStart: 0x300, lastWALEnd: 0x200, highestWALEnd: 0x300))
        #expect(folded.machine == oneByOne.machine)
    }

    // MARK: - Rule 5 with non-monotonic dataStart

    /// T1 (short) commits while T2 (long, begun earlier) is open: T2's messages arrive after T1's
    /// commit with LSNs below its end. The consumer confirmed T1; a keepalive mid-T2 must not
    /// move flush past T2, which the consumer has not handled. The fence comes from where the
    /// stream takes it, the assembler that decoded the messages (`hasOpenTransaction`), so this
    /// fails if the assembler stops reporting T2 open as well as if the machine ignores the fence.
    @Test func interleavedTransactionsDoNotForwardPastTheOpenOne() throws {
        var script = Script()
        var assembler = TransactionAssembler(decoder: PGOutputDecoder(protocolVersion: 1), delivery: .assembled)
        let encoder = PGOutputEncoder()
        let relation = PGOutputMessage.Relation(
            xid: nil, oid: 1, namespace: "public", name: "t", replicaIdentity: .default,
            columns: [RelationColumn(flags: 1, name: "id", typeOID: 23, typeModifier: -1)])
        var delivered: [LSN] = []
        /// A message received at `lsn`, decoded, handled; the fence set as the stream sets it.
        func receive(_ message: PGOutputMessage, at lsn: LSN) throws {
            script.data(lsn)
            try encoder.encode(message).withUnsafeBytes { bytes in
                try assembler.feed(bytes, lsn: lsn) { event in
                    if let end = event.acknowledgeLSN { delivered.append(end) }
                }
            }
            script.machine.forwardingHeld = assembler.hasOpenTransaction
            script.handled()
        }
        func insert(_ id: Int) -> PGOutputMessage {
            .insert(.init(xid: nil, relationOID: 1, newTuple: TupleData(columns: [.text(Array("\(id)".utf8))])))
        }
        // T1: Begin, insert, Commit (end 0x2000); the consumer confirms it.
        try receive(.begin(.init(finalLSN: 0x1F80, commitTime: .init(rawValue: 1), xid: 1)), at: 0x1F00)
        try receive(.relation(relation), at: 0)
        try receive(insert(1), at: 0x1F00)
        try receive(.commit(.init(commitLSN: 0x1F80, endLSN: 0x2000, commitTime: .init(rawValue: 1))), at: 0x2000)
        #expect(delivered == [0x2000])
        script.confirm(flush: 0x2000)
        // T2 began at 0x1000 and commits later: its Begin and first changes carry lower LSNs.
        try receive(.begin(.init(finalLSN: 0x3000, commitTime: .init(rawValue: 2), xid: 2)), at: 0x1000)
        try receive(insert(2), at: 0x1100)
        #expect(script.machine.highestDataStart == 0x2000)
        // A keepalive mid-T2: everything received was handled and the highest dataStart is
        // confirmed, so psycopg2's rule alone would forward; T2 is open, so nothing moves.
        script.keepalive(0x3000)
        #expect(script.machine.flushLSN == 0x2000)
        // T2 commits; once the consumer confirms it, forwarding resumes.
        try receive(.commit(.init(commitLSN: 0x3000, endLSN: 0x3100, commitTime: .init(rawValue: 2))), at: 0x3100)
        #expect(delivered == [0x2000, 0x3100])
        script.keepalive(0x3200)
        #expect(script.machine.flushLSN == 0x2000, "T2 delivered but not confirmed")
        script.confirm(flush: 0x3100)
        script.keepalive(0x3200)
        #expect(script.machine.flushLSN == 0x3200)
    }

    /// Compared with the *last* dataStart (psycopg2 2.9's check), a confirmation of a higher
    /// position than a later, lower dataStart would forward; compared with the highest one, a
    /// frame received after the confirmed one keeps it back.
    @Test func forwardingComparesWithTheHighestDataStartNotTheLast() {
        var script = Script()
        script.data(0x2000)
        script.data(0x3000)  // received, not handled
        script.data(0x1800)  // a lower dataStart arrives last
        script.confirm(flush: 0x2000)
        script.handled()
        script.keepalive(0x4000)
        #expect(script.machine.flushLSN == 0x2000)
        script.confirm(flush: 0x3000)
        script.keepalive(0x4000)
        #expect(script.machine.flushLSN == 0x4000)
    }

    /// Streamed chunks of two in-progress transactions interleave: chunk LSNs of the second go
    /// below those of the first. Flush does not forward until the highest chunk LSN is confirmed.
    @Test func interleavedStreamedChunksForwardOnlyOnceTheHighestIsConfirmed() {
        var script = Script()
        // Stream Start T5, changes at 0x5000.., Stream Stop.
        script.data(0, walEnd: 0x5000)  // Relation: dataStart 0
        script.data(0x5000)
        script.data(0x5100)
        // Stream Start T6 (began earlier): 0x4000..
        script.data(0x4000)
        script.data(0x4100)
        script.confirm(flush: 0x4100)
        script.handled()
        script.keepalive(0x6000)
        #expect(script.machine.flushLSN == 0x4100)
        // T6 commits (Stream Commit, end 0x5200); the consumer confirms it.
        script.data(0x5200)
        script.confirm(flush: 0x5200)
        script.handled()
        // T5 is still in progress, but its chunks were at or below 0x5100 < 0x5200. The
        // psycopg2 rule forwards: the changes of an in-progress streamed transaction are sent
        // again after a restart, since its commit lies beyond any WAL end reported now.
        script.keepalive(0x6000)
        #expect(script.machine.flushLSN == 0x6000)
    }

    /// A Relation message (dataStart 0) after a confirmed commit does not hold forwarding back.
    @Test func relationMessagesWithZeroDataStartDoNotCount() {
        var script = Script()
        script.data(0x100)
        script.confirm(flush: 0x100)
        script.data(0, walEnd: 0x180)
        script.handled()
        script.keepalive(0x200)
        #expect(script.machine.flushLSN == 0x200)
    }

    /// A keepalive's WAL end can be below the highest seen (a logical stream's walEnd moves back):
    /// forwarding goes to the keepalive's position, never beyond the highest WAL end reported.
    @Test func forwardingNeverPassesTheHighestWALEnd() {
        var script = Script()
        script.data(0x100, walEnd: 0x900)
        script.confirm(flush: 0x100)
        script.handled()
        script.keepalive(0x500)
        #expect(script.machine.flushLSN == 0x500)
        #expect(script.machine.flushLSN <= script.machine.highestWalEnd)
    }

    // MARK: - Rule 6: prompt reports

    @Test func promptIntervalReportsANewFlushQuickly() {
        var script = Script(.init(statusInterval: 10, promptInterval: 0.01))
        script.now += 5
        script.confirm(flush: 0x100)
        #expect(script.lastAction?.report == nil)
        #expect(script.machine.deadline == 100.01)
        script.advance(0)
        #expect(script.lastReport?.flush == 0x100)
        #expect(script.reports.count == 2)
    }

    @Test func promptReportsAreSpacedByTheInterval() {
        var script = Script(.init(statusInterval: 10, promptInterval: 1))
        script.confirm(flush: 0x100)
        script.advance(0.5)
        #expect(script.reports.count == 1)
        script.advance(0.5)
        #expect(script.reports.count == 2)
    }

    @Test func withoutPromptIntervalConfirmationsWaitForTheTimedUpdate() {
        var script = Script(.init(statusInterval: 10))
        script.confirm(flush: 0x100)
        script.advance(5)
        #expect(script.reports.count == 1)
        #expect(script.machine.deadline == 110)
    }

    // MARK: - Rule 7: forced reports

    @Test func forceAndReplySendAtOnce() {
        var script = Script()
        script.confirm(flush: 0x10, force: true)
        #expect(script.reports.count == 2)
        #expect(script.lastReport?.replyRequested == false)
        script.confirm(flush: 0x20, reply: true)
        #expect(script.reports.count == 3)
        #expect(script.lastReport?.replyRequested == true)
    }

    // MARK: - Rule 8: per-START reset

    @Test func aStartForgetsThePreviousStream() {
        var script = Script()
        script.data(0x100)
        script.confirm(flush: 0x100)
        script.handled()
        script.keepalive(0x200)
        script.machine.forwardingHeld = true
        script.apply(.started)
        #expect(script.machine.flushLSN == 0)
        #expect(script.machine.highestDataStart == 0)
        #expect(script.machine.highestWalEnd == 0)
        #expect(script.machine.lastReportTime == nil)
        #expect(script.machine.forwardingHeld == false)
        // The settings stay.
        #expect(script.machine.settings == FeedbackMachine.Settings())
        // And the first update of the new START goes out at once.
        script.apply(.tick())
        #expect(script.lastReport?.flush == 0)
    }

    // MARK: - Rule 9: final report

    @Test func stoppingReportsTheConfirmedPositions() {
        var script = Script()
        script.confirm(flush: 0x700)
        script.apply(.stopping)
        #expect(script.lastReport?.flush == 0x700)
    }

    // MARK: - Rule 10: heartbeat under backpressure

    @Test func heartbeatTicksUseTheShorterInterval() {
        var script = Script(.init(statusInterval: 10))
        script.now += 2
        script.apply(.tick(heartbeat: 3))
        #expect(script.reports.count == 1)
        script.now += 1
        script.apply(.tick(heartbeat: 3))
        #expect(script.reports.count == 2)
    }

    // MARK: - Receive bookkeeping

    @Test func walEndCanMoveBackButTheHighestDoesNot() {
        var script = Script()
        script.data(0x500)
        script.data(0x300)
        #expect(script.machine.walEnd == 0x300)
        #expect(script.machine.highestWalEnd == 0x500)
        #expect(script.machine.lastReceiveTime == script.now)
    }

    @Test func theStatusUpdateHasTheReportsPositions() {
        let report = FeedbackMachine.Report(write: 3, flush: 2, apply: 1, replyRequested: true)
        let update = report.statusUpdate(clock: .init(rawValue: 42))
        #expect(update.bytes.count == StandbyStatusUpdate.size)
        #expect(
            update
                == StandbyStatusUpdate(write: 3, flush: 2, apply: 1, clock: .init(rawValue: 42), replyRequested: true))
    }
}
