import Foundation
import Logging
import PGOutput
import PGSupport
import ServiceLifecycle

/// A notification sent with ``PGNotifications/notify(channel:payload:on:)`` (or its SQL form) and
/// received from the slot.
public struct PGNotification: Hashable, Sendable {
    /// The channel it was sent on.
    public var channel: String
    /// What was sent.
    public var payload: String
    /// Where it lies in the WAL: unique per notification, so the id to deduplicate by (delivery is
    /// at least once).
    public var lsn: LSN
    /// The transaction that sent it, and when that committed.
    public var xid: UInt32
    public var commitTime: PostgresTimestamp

    public init(channel: String, payload: String, lsn: LSN, xid: UInt32, commitTime: PostgresTimestamp) {
        self.channel = channel
        self.payload = payload
        self.lsn = lsn
        self.xid = xid
        self.commitTime = commitTime
    }
}

/// Notifications that are never lost: LISTEN/NOTIFY's model on a logical replication slot.
///
/// **Sending.** ``notify(channel:payload:on:)`` (or ``sendStatement``, for other drivers and for
/// triggers through ``functionDefinition``) writes a transactional logical decoding message
/// (`pg_logical_emit_message(true, 'pgrepl.notify.<channel>', payload)`) in the application's
/// own transaction. It is delivered if and only if that transaction commits, in commit order.
///
/// **Receiving.** ``notifications()`` is an `AsyncSequence` of the notifications on
/// ``Configuration/channels``. It runs a ``ChangeStream`` on ``Configuration/slot``, which
/// creates the slot and an empty publication (``Configuration/publication``) on first use. The
/// stream reconnects after a lost connection or a server restart, and with
/// ``Configuration/failover`` (PostgreSQL 17+) continues on a promoted standby. A notification
/// is acknowledged once the loop asks for the next one after it; a process that restarts
/// resumes from the slot, and gets again what it had not finished. Delivery is at least once:
/// deduplicate by ``PGNotification/lsn``.
///
/// It is a `Service` too: run it in a `ServiceGroup`, and iterate ``notifications()`` in
/// another task.
///
/// Compared with LISTEN/NOTIFY: nothing sent while the receiver is away is lost (NOTIFY's are),
/// and payloads are not limited to 8000 bytes. It costs a replication slot, which keeps the WAL
/// from where the receiver stopped until it comes back: watch the slot's lag, and drop it
/// (`pgrepl slot drop`) when the receiver is gone for good. The receiver's role needs the
/// REPLICATION attribute.
public final class PGNotifications: Service, Sendable {
    public struct Configuration: Sendable {
        /// The database's connection string.
        public var dsn: String
        /// The channels to receive; empty: every channel.
        public var channels: Set<String>
        /// The slot the notifications are read from: one per receiver (an application that runs
        /// several receivers of the same notifications gives each its own).
        public var slot: String
        /// The publication the slot reads with; it publishes no table.
        public var publication: String
        /// Create the slot as a failover slot (PostgreSQL 17+; standbys need
        /// `sync_replication_slots = on`), so that the receiver continues after a promotion.
        public var failover: Bool
        public var reconnect: ChangeStream.ReconnectPolicy
        /// Notifications buffered ahead of the consumer, at most (in their transactions).
        public var bufferSize: Int

        public init(
            dsn: String, channels: Set<String>, slot: String = PGNotifications.defaultName,
            publication: String = PGNotifications.defaultName, failover: Bool = false,
            reconnect: ChangeStream.ReconnectPolicy = ChangeStream.ReconnectPolicy(maxDuration: nil),
            bufferSize: Int = 256
        ) {
            self.dsn = dsn
            self.channels = channels
            self.slot = slot
            self.publication = publication
            self.failover = failover
            self.reconnect = reconnect
            self.bufferSize = bufferSize
        }
    }

    /// The slot's and the publication's names unless configured otherwise.
    public static let defaultName = "pgrepl_notifications"

    /// The message prefix before the channel's name.
    public static let prefix = "pgrepl.notify."

    /// The statement that sends a notification: `$1` the channel, `$2` the payload (for drivers
    /// with bound parameters, such as postgres-nio). Run it in the transaction it belongs to.
    public static let sendStatement = "SELECT pg_logical_emit_message(true, 'pgrepl.notify.' || $1, $2)"

    /// A SQL function, `pgrepl_notify(channel text, payload text)`, for triggers and plain SQL.
    public static let functionDefinition = """
        CREATE OR REPLACE FUNCTION pgrepl_notify(channel text, payload text) RETURNS void
        LANGUAGE sql AS $$ SELECT pg_logical_emit_message(true, 'pgrepl.notify.' || channel, payload) $$
        """

    /// Sends a notification in the transaction `connection` is in (or in one of its own, outside
    /// one): delivered if and only if it commits.
    public static func notify(channel: String, payload: String, on connection: PGConnection) throws {
        try connection.execute(
            "SELECT pg_logical_emit_message(true, \(try connection.quoteLiteral(prefix + channel)),"
                + " \(try connection.quoteLiteral(payload)))")
    }

    public let configuration: Configuration
    /// The change stream that reads the slot.
    public let stream: ChangeStream

    public init(_ configuration: Configuration, logger: Logger? = nil) {
        self.configuration = configuration
        var stream = ChangeStream.Configuration(
            dsn: configuration.dsn, slot: configuration.slot, publications: [configuration.publication])
        stream.createSlot = true
        stream.failoverSlot = configuration.failover
        stream.createPublication = .tables([])
        stream.messages = true
        stream.reconnect = configuration.reconnect
        stream.bufferSize = configuration.bufferSize
        self.stream = ChangeStream(stream, logger: logger)
    }

    /// Runs the receiving stream until a graceful shutdown, as ``ChangeStream/run()``.
    public func run() async throws { try await stream.run() }

    /// Stops the receiver.
    public func stop() { stream.stop() }

    /// The notifications on the configured channels, in commit order; iterate it once.
    public func notifications() -> Notifications {
        Notifications(events: stream.events(), channels: configuration.channels)
    }

    /// The channel of `message` when it is a notification on one of `channels` (every channel
    /// when empty); nil for any other message.
    package static func channel(of message: PGLogicalDecodingMessage, among channels: Set<String>) -> String? {
        guard message.isTransactional, message.prefix.hasPrefix(prefix) else { return nil }
        let channel = String(message.prefix.dropFirst(prefix.count))
        return channels.isEmpty || channels.contains(channel) ? channel : nil
    }

    /// The notifications a transaction carries on `channels` (every channel when empty).
    static func notifications(in transaction: PGTransaction, channels: Set<String>) -> [PGNotification] {
        var found: [PGNotification] = []
        for case .message(let message) in transaction.changes {
            guard let channel = channel(of: message, among: channels) else { continue }
            found.append(
                PGNotification(
                    channel: channel, payload: String(decoding: message.content, as: UTF8.self), lsn: message.lsn,
                    xid: transaction.xid, commitTime: transaction.commitTime))
        }
        return found
    }

    /// The async sequence of ``PGNotifications/notifications()``.
    public struct Notifications: AsyncSequence, Sendable {
        public typealias Element = PGNotification
        let events: ChangeStream.Events
        let channels: Set<String>

        public func makeAsyncIterator() -> Iterator {
            Iterator(events: events.makeAsyncIterator(), channels: channels)
        }

        public struct Iterator: AsyncIteratorProtocol {
            var events: ChangeStream.Events.Iterator
            let channels: Set<String>
            /// The rest of the transaction handed out last: its event is acknowledged when the
            /// next one is asked for, once these are taken.
            var pending: [PGNotification] = []

            public mutating func next() async throws -> PGNotification? {
                while pending.isEmpty {
                    guard let event = try await events.next() else { return nil }
                    guard case .transaction(let transaction) = event else { continue }
                    pending = PGNotifications.notifications(in: transaction, channels: channels).reversed()
                }
                return pending.popLast()
            }
        }
    }
}

@available(*, unavailable, message: "an iterator has one consumer")
extension PGNotifications.Notifications.Iterator: Sendable {}
