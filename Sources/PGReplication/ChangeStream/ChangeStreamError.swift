/// A change stream ended for a reason reconnecting cannot cure.
public struct ChangeStreamError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why a stream ended. More kinds may come in later versions: a `switch` over it needs a
    /// `default` (as postgres-nio's `PSQLError.Code`), so a new kind breaks no client.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case slotMissing, slotInvalidated, differentSystem, slotMovedElsewhere, stalled, reconnectFailed,
                snapshotIncomplete, backfillFailed, cannotStart
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// The slot does not exist (dropped, or temporary and gone with its connection).
        public static let slotMissing = Kind(.slotMissing)
        /// The slot was invalidated: the message names the reason in PostgreSQL 17's words on every
        /// version (`wal_removed`, e.g. by `max_slot_wal_keep_size`; `rows_removed`; `idle_timeout`).
        public static let slotInvalidated = Kind(.slotInvalidated)
        /// A reconnect reached a different database system (IDENTIFY_SYSTEM's system identifier
        /// differs from the first server's): a DSN pointing elsewhere, or a server restored from a
        /// different cluster. A promoted physical standby keeps its primary's identifier.
        public static let differentSystem = Kind(.differentSystem)
        /// The slot's confirmed position is past what this stream handled, moved by something
        /// else: the server would not send what lies between (see
        /// ``ChangeStream/SlotAheadPolicy``).
        public static let slotMovedElsewhere = Kind(.slotMovedElsewhere)
        /// The heartbeat did not come back in time and ``ChangeStream/Heartbeat/onStall`` is
        /// ``ChangeStream/Heartbeat/StallAction/fail``.
        public static let stalled = Kind(.stalled)
        /// The reconnect budget (``ChangeStream/ReconnectPolicy``, by attempts or by time) is spent.
        public static let reconnectFailed = Kind(.reconnectFailed)
        /// The initial snapshot copy failed part way. Its exported snapshot is gone with its
        /// connection, so it cannot be resumed, and streaming without it would miss rows: the
        /// slot is only created once a copy was handled, so none was left behind, and a new run
        /// creates it and copies again from the start.
        public static let snapshotIncomplete = Kind(.snapshotIncomplete)
        /// A backfill (``ChangeStream/Backfill``) was refused (a table not published, without a
        /// key to chunk by, or whose key the publication leaves out) or failed with an error that
        /// retrying cannot cure. The message names the table and why.
        public static let backfillFailed = Kind(.backfillFailed)
        /// The stream cannot start, and trying again would not help: the server refused the
        /// login (authentication, a missing database, no REPLICATION privilege), the slot is of
        /// another plugin or decodes prepared transactions the stream did not ask for
        /// (``ChangeStream/Configuration/twoPhase``), a publication is missing, or the server is
        /// too old for what the configuration asks. ``ChangeStreamError/underlying`` carries the
        /// server's message and SQLSTATE when the server said it.
        public static let cannotStart = Kind(.cannotStart)

        /// The kind's name (`slotMissing`).
        public var description: String { base.rawValue }
    }

    public var kind: Kind
    public var message: String
    public var slot: String
    /// The server's error behind it, when there was one.
    public var underlying: PGError?

    init(_ kind: Kind, _ message: String, slot: String, underlying: PGError? = nil) {
        self.kind = kind
        self.message = message
        self.slot = slot
        self.underlying = underlying
    }

    public var description: String { "\(message) (slot \(slot))" }
}
