import Foundation

/// The stall rule of a stream's heartbeats, as a value: heartbeats written go in
/// (``emitted(_:at:date:lsn:)``), heartbeats decoded go in (``returned(_:at:)``), and a check
/// (``check(at:connected:)``) says whether the stream is stalled: connected, with a heartbeat
/// not back within ``deadline`` seconds.
///
/// - A stall is reported once; the next heartbeat back ends it (``Return/recovered``).
/// - A heartbeat back settles every heartbeat written before it (the server decodes them in order;
///   an earlier one lost to a reconnect is not waited for).
/// - A disconnected stream is never stalled: the reconnect is what is waited for.
/// - A new connection forgets what was written before (``reset()``): the server sends those
///   messages again from its restart point, or never, when they lie before it.
///
/// No I/O, no clock, no lock: times are given in (monotonic seconds and wall dates), as
/// `FeedbackMachine` takes them. The heartbeat monitor keeps one in its lock.
package struct StallRule: Sendable {
    /// Seconds a heartbeat may take to come back.
    package var deadline: Double

    /// Written and not back yet: sequence → (monotonic time, wall time, the message's LSN).
    private var outstanding: [UInt64: (sent: Double, date: Date, lsn: String)] = [:]
    /// Whether a stall was reported and has not ended.
    package private(set) var isStalled = false
    /// The stall not yet delivered as an event.
    private var pending: PGStreamStall?

    package init(deadline: Double) {
        self.deadline = deadline
    }

    /// What a heartbeat back tells.
    package struct Return: Equatable, Sendable {
        /// Seconds since it was written; nil when it was not written by this connection.
        package var roundTrip: Double?
        /// It ended a stall.
        package var recovered: Bool
    }

    /// Heartbeat `sequence` was written at `now` (monotonic seconds), `date`, as the message at `lsn`.
    package mutating func emitted(_ sequence: UInt64, at now: Double, date: Date, lsn: String) {
        outstanding[sequence] = (now, date, lsn)
    }

    /// Heartbeat `sequence` came back at `now`.
    package mutating func returned(_ sequence: UInt64, at now: Double) -> Return {
        let sent = outstanding[sequence]?.sent
        outstanding = outstanding.filter { $0.key > sequence }
        let recovered = isStalled
        isStalled = false
        pending = nil
        return Return(roundTrip: sent.map { now - $0 }, recovered: recovered)
    }

    /// Forgets what was written (a new connection starts).
    package mutating func reset() {
        outstanding = [:]
        pending = nil
    }

    /// The stall that begins at `now`, once; nil when the stream is not stalled or the stall was
    /// reported already.
    package mutating func check(at now: Double, connected: Bool) -> PGStreamStall? {
        guard connected, !isStalled, let oldest = outstanding.values.min(by: { $0.sent < $1.sent }),
            now - oldest.sent > deadline
        else { return nil }
        isStalled = true
        let overdue = now - oldest.sent
        let stall = PGStreamStall(
            since: oldest.date, overdue: overdue,
            explanation:
                "the heartbeat written at \(oldest.lsn) has not come back for \(Int(overdue)) s although the stream is"
                + " connected; likely causes: synchronized_standby_slots names a standby that is down or behind"
                + " (PostgreSQL 17+: logical walsenders then wait without an error), a walsender that is stopped or"
                + " blocked, a server too busy to decode, or a network path that delivers nothing")
        pending = stall
        return stall
    }

    /// The stall not delivered as an event yet, taken.
    package mutating func takePending() -> PGStreamStall? {
        defer { pending = nil }
        return pending
    }
}
