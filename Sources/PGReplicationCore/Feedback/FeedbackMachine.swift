import PGOutput

/// The feedback rules of one replication stream, as a value: what to report to the server, and
/// when.
///
/// The machine does no I/O and reads no clock. It is driven by events (a frame received, the
/// consumer confirmed positions, the clock ticked, a START began, the stream is stopping) that
/// carry the time as monotonic seconds, and answers each with a ``FeedbackAction``: a status
/// update to send now, if any, and the next time it wants to be asked again. The copy-both engine
/// executes the actions; the tests drive the machine with scripted frames and a fake clock.
///
/// Positions are LSNs as the server reports them. Two facts about logical streams shape the rules
/// (see `src/backend/replication/walsender.c` and `logical.c` in PostgreSQL):
/// - the `dataStart` of an XLogData message is the LSN of the record decoded, and it is **not
///   monotonic**: a transaction is sent when it commits, so a long transaction that commits after
///   short ones arrives with LSNs below their commit ends, and streamed chunks of concurrent
///   transactions interleave the same way;
/// - Relation and Type messages carry `dataStart` 0.
///
/// The rules, each stated again where it is implemented:
/// 1. **Maxima.** Confirmed write, flush and apply positions only move forward.
/// 2. **Write covers flush.** The write position reported is never below the flush position, so a
///    server waiting at shutdown for `write == sent` can finish.
/// 3. **Timed updates.** A status update goes out every `statusInterval` seconds; the first is due
///    at once.
/// 4. **Replies.** A keepalive that asks for a reply is answered at once.
/// 5. **Flush forwarding** (psycopg2's and pgjdbc's rule, with its `automaticFlush` switch): on a
///    keepalive, the flush position moves to the server's WAL end when the consumer confirmed at
///    least the **highest** `dataStart` received, every frame received before the keepalive was
///    handled by the consumer (``deliveryPending`` is false: psycopg2 reads one message at a time,
///    so this holds there by construction), no fence of the consumer holds it
///    (``forwardingHeld``), and never beyond the highest WAL end the server reported.
/// 6. **Prompt reports.** With a `promptInterval`, a newly confirmed flush position is reported at
///    once, or that long after the previous update when one went out less than that ago.
/// 7. **Forced reports.** A confirmation with `force` or `reply` is reported at once; `reply` asks
///    the server to answer with a keepalive.
/// 8. **Per-START reset.** A START begins with no positions and no timers (psycopg2 keeps them
///    across STARTs, so a second stream could report the first one's positions).
/// 9. **Final report.** Stopping reports the positions one last time, so what was confirmed is not
///    left to a timer that will not fire again.
/// 10. **Heartbeat under backpressure.** While the engine holds back reading (its stash is full),
///     ticks may ask for a shorter interval, so the server's `wal_sender_timeout`, which it
///     checks against any message from the client, is not reached.
package struct FeedbackMachine: Sendable, Hashable {
    /// How the machine reports.
    package struct Settings: Sendable, Hashable {
        /// Seconds between timed status updates (rule 3).
        package var statusInterval: Double
        /// Flush forwarding on keepalives (rule 5).
        package var automaticFlush: Bool
        /// When set, newly confirmed flush positions are reported this promptly (rule 6).
        package var promptInterval: Double?

        package init(statusInterval: Double = 10, automaticFlush: Bool = true, promptInterval: Double? = nil) {
            self.statusInterval = statusInterval
            self.automaticFlush = automaticFlush
            self.promptInterval = promptInterval
        }
    }

    /// What happened.
    package enum Event: Sendable, Hashable {
        /// A START began (rule 8).
        case started
        /// A CopyData frame arrived from the server.
        case received(ReplicationFrame)
        /// Several XLogData frames arrived in a row, folded into their highest `dataStart`, the
        /// last WAL end and the highest WAL end: the same as receiving each of them.
        case receivedData(highestDataStart: LSN, lastWALEnd: LSN, highestWALEnd: LSN)
        /// The consumer handled every frame received so far (the engine is reading again with
        /// nothing kept for the consumer); a forwarding that waited for it happens now (rule 5).
        case handled
        /// The consumer confirmed positions; zero leaves a position as it is (rules 1 and 7).
        case confirmed(write: LSN = 0, flush: LSN = 0, apply: LSN = 0, force: Bool = false, reply: Bool = false)
        /// Time passed. `heartbeat`: a shorter interval for this tick, while reading is held back
        /// (rule 10).
        case tick(heartbeat: Double? = nil)
        /// The client is ending the stream (rule 9).
        case stopping
    }

    /// The positions of a status update.
    package struct Report: Sendable, Hashable {
        package var write: LSN
        package var flush: LSN
        package var apply: LSN
        package var replyRequested: Bool

        /// The wire message, stamped with the client's clock.
        package func statusUpdate(clock: PostgresTimestamp) -> StandbyStatusUpdate {
            StandbyStatusUpdate(write: write, flush: flush, apply: apply, clock: clock, replyRequested: replyRequested)
        }
    }

    /// What the engine must do now.
    package struct Action: Sendable, Hashable {
        /// Send this status update now; the machine counts it as sent at the event's time.
        package var report: Report?
        /// When (monotonic seconds) the machine wants a ``Event/tick(heartbeat:)`` at the latest.
        package var deadline: Double
    }

    package var settings: Settings

    /// The positions the consumer confirmed (or that forwarding moved), reported to the server.
    package private(set) var writeLSN: LSN = 0
    package private(set) var flushLSN: LSN = 0
    package private(set) var applyLSN: LSN = 0
    /// The highest flush position the consumer confirmed itself (forwarding does not move it).
    package private(set) var confirmedFlushLSN: LSN = 0
    /// The highest `dataStart` of the XLogData received in this START.
    package private(set) var highestDataStart: LSN = 0
    /// The server WAL end of the last frame, and the highest one (logical streams can report it
    /// going back).
    package private(set) var walEnd: LSN = 0
    package private(set) var highestWalEnd: LSN = 0
    package private(set) var lastKeepalive: PrimaryKeepalive?
    /// The flush position of the last status update sent.
    package private(set) var reportedFlushLSN: LSN = 0
    /// When the last status update went out; nil before the first.
    package private(set) var lastReportTime: Double?
    /// When the last frame arrived.
    package private(set) var lastReceiveTime: Double?

    /// A fence: while set, rule 5 does not move the flush position, whatever was confirmed. A
    /// consumer that holds data it has not handled (an open transaction, a buffer) sets it.
    package var forwardingHeld = false

    /// Whether XLogData frames were received that the consumer has not handled yet (kept for it,
    /// or in its hands): set by every data frame, cleared by ``Event/handled``. Rule 5 waits
    /// meanwhile, since pgoutput's `dataStart` is not monotonic and an unhandled frame can lie
    /// below what was confirmed.
    package private(set) var deliveryPending = false
    /// The highest WAL end of keepalives whose forwarding waited for the consumer
    /// (``deliveryPending``): the consumer may forward to it once it handled what came before.
    package private(set) var waitingForwardWALEnd: LSN?

    package init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// Applies an event that happened at `now` (monotonic seconds). A confirmation without
    /// `force` or `reply` neither reports nor reads `now`.
    package mutating func handle(_ event: Event, now: Double) -> Action {
        var replyRequested = false
        var reportNow = false
        switch event {
        case .started:
            // Rule 8: a START begins from nothing.
            self = FeedbackMachine(settings: settings)
        case .received(.xLogData(let header)):
            lastReceiveTime = now
            walEnd = header.walEnd
            highestWalEnd = max(highestWalEnd, header.walEnd)
            highestDataStart = max(highestDataStart, header.dataStart)
            deliveryPending = true
        case .receivedData(let highestData, let lastWALEnd, let highestWAL):
            lastReceiveTime = now
            walEnd = lastWALEnd
            highestWalEnd = max(highestWalEnd, highestWAL)
            highestDataStart = max(highestDataStart, highestData)
            deliveryPending = true
        case .handled:
            deliveryPending = false
            if let waiting = waitingForwardWALEnd {
                waitingForwardWALEnd = nil
                forwardFlush(to: waiting)
            }
        case .received(.keepalive(let keepalive)):
            lastReceiveTime = now
            walEnd = keepalive.walEnd
            highestWalEnd = max(highestWalEnd, keepalive.walEnd)
            lastKeepalive = keepalive
            forwardFlush(to: keepalive.walEnd)
            // Rule 4: answer at once when asked.
            reportNow = keepalive.replyRequested
        case .confirmed(let write, let flush, let apply, let force, let reply):
            // Rule 1: maxima, never back.
            writeLSN = max(writeLSN, write)
            flushLSN = max(flushLSN, flush)
            applyLSN = max(applyLSN, apply)
            confirmedFlushLSN = max(confirmedFlushLSN, flush)
            // Rule 7.
            reportNow = force || reply
            replyRequested = reply
        case .tick(let heartbeat):
            var interval = settings.statusInterval
            if let heartbeat { interval = min(interval, heartbeat) }
            // Rule 10 (a heartbeat), rule 3 (timed) and rule 6 (prompt).
            reportNow = isDue(interval: interval, now: now) || promptReportDue(now: now)
        case .stopping:
            // Rule 9.
            reportNow = true
        }
        guard reportNow else { return Action(report: nil, deadline: deadline) }
        return Action(report: makeReport(replyRequested: replyRequested, now: now), deadline: deadline)
    }

    /// When the machine wants to be ticked at the latest: the next timed update, or a prompt
    /// report of a flush position not reported yet.
    package var deadline: Double {
        guard let last = lastReportTime else { return -.infinity }
        var next = last + settings.statusInterval
        if let prompt = settings.promptInterval, flushLSN > reportedFlushLSN { next = min(next, last + prompt) }
        return next
    }

    // MARK: - Rules

    /// Rule 5: flush forwarding. The consumer confirmed everything received (the highest
    /// `dataStart`, not the last: the last can be below what is still unhandled) and has handled
    /// every frame received, no fence holds, and the server's WAL end is past both positions. The WAL end comes from the keepalive, so
    /// it never exceeds the highest one the server reported.
    ///
    /// A keepalive that comes while frames before it are unhandled leaves its WAL end waiting:
    /// every transaction that commits at or before it was sent before it, and anything sent later
    /// commits after it (a logical walsender sends a transaction when it decodes its commit), so
    /// once the consumer handled the earlier frames the position is as safe as it would have been
    /// at once.
    private mutating func forwardFlush(to serverWALEnd: LSN) {
        guard settings.automaticFlush, serverWALEnd <= highestWalEnd else { return }
        if deliveryPending {
            waitingForwardWALEnd = max(waitingForwardWALEnd ?? 0, serverWALEnd)
            return
        }
        guard !forwardingHeld, confirmedFlushLSN >= highestDataStart, serverWALEnd > confirmedFlushLSN,
            serverWALEnd > flushLSN
        else { return }
        flushLSN = serverWALEnd
    }

    /// Rule 3: the first update is due at once, later ones every interval.
    private func isDue(interval: Double, now: Double) -> Bool {
        guard let last = lastReportTime else { return true }
        return now >= last + interval
    }

    /// Rule 6.
    private func promptReportDue(now: Double) -> Bool {
        guard let prompt = settings.promptInterval, flushLSN > reportedFlushLSN else { return false }
        guard let last = lastReportTime else { return true }
        return now >= last + prompt
    }

    /// Rule 2: write covers flush. The report counts as sent now.
    private mutating func makeReport(replyRequested: Bool, now: Double) -> Report {
        let report = Report(
            write: max(writeLSN, flushLSN), flush: flushLSN, apply: applyLSN, replyRequested: replyRequested)
        reportedFlushLSN = flushLSN
        lastReportTime = now
        return report
    }
}
