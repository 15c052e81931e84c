import PGOutput
import PGReplicationCore

/// A PostgreSQL server's version (`server_version_num`), and the features it brings.
///
/// The one place that knows which version brings what: every version gate of the package asks
/// ``supports(_:)`` or ``require(_:_:)`` with a ``ServerFeature``, and `pgrepl check` prints the
/// table (`ServerFeature.allCases`).
public struct ServerVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// `server_version_num`: 170002 for 17.2.
    public var number: Int

    public init(number: Int) {
        self.number = number
    }

    /// The major version: 17 for 17.2.
    public var major: Int { number / 10000 }

    /// `17.2`.
    public var description: String { "\(major).\(number % 10000)" }

    /// Whether the server has `feature`.
    public func supports(_ feature: ServerFeature) -> Bool { major >= feature.since }

    /// Throws `PGError` (kind `.notSupported`) naming `what` (the feature's summary by
    /// default), the version it needs and this one, when the server lacks `feature`.
    public func require(_ feature: ServerFeature, _ what: String? = nil) throws(PGError) {
        guard !supports(feature) else { return }
        throw PGError(
            .notSupported,
            "\(what ?? feature.summary) needs PostgreSQL \(feature.since) or later; the server is \(description)")
    }

    /// pgoutput's highest protocol on this server: 4 from 16, 3 from 15, 2 from 14, else 1.
    public var highestProtocolVersion: Int {
        ServerFeature.protocolFeatures.last { supports($0.feature) }?.version ?? 1
    }

    public static func < (lhs: ServerVersion, rhs: ServerVersion) -> Bool { lhs.number < rhs.number }
}

/// What a PostgreSQL version brings to replication, as this package uses it.
public enum ServerFeature: String, CaseIterable, Sendable {
    case protocol2Streaming
    case binaryValues
    case logicalDecodingMessages
    case twoPhaseSlots
    case protocol3TwoPhase
    case rowFiltersAndColumnLists
    case replicationCommandOptionLists
    case protocol4ParallelStreaming
    case decodingOnStandby
    case slotConflicting
    case failoverSlots
    case slotInvalidationReason
    case flushedMessages
    case alterSlotTwoPhase
    case publishedGeneratedColumns
    case idleSlotTimeout

    /// The major version that brings it.
    public var since: Int {
        switch self {
        case .protocol2Streaming, .binaryValues, .logicalDecodingMessages, .twoPhaseSlots: 14
        case .protocol3TwoPhase, .rowFiltersAndColumnLists, .replicationCommandOptionLists: 15
        case .protocol4ParallelStreaming, .decodingOnStandby, .slotConflicting: 16
        case .failoverSlots, .slotInvalidationReason, .flushedMessages: 17
        case .alterSlotTwoPhase, .publishedGeneratedColumns, .idleSlotTimeout: 18
        }
    }

    /// What it is, for errors and the tables of `pgrepl check` and the documentation.
    public var summary: String {
        switch self {
        case .protocol2Streaming: "pgoutput protocol 2: streaming of in-progress transactions"
        case .binaryValues: "binary values"
        case .logicalDecodingMessages: "logical decoding messages in pgoutput"
        case .twoPhaseSlots: "two-phase slots"
        case .protocol3TwoPhase: "pgoutput protocol 3: decoding of prepared transactions"
        case .rowFiltersAndColumnLists: "row filters and column lists of publications"
        case .replicationCommandOptionLists: "READ_REPLICATION_SLOT, replication commands with option lists"
        case .protocol4ParallelStreaming: "pgoutput protocol 4: streaming = parallel"
        case .decodingOnStandby: "logical decoding on a standby"
        case .slotConflicting: "conflicting in pg_replication_slots"
        case .failoverSlots: "failover slots, ALTER_REPLICATION_SLOT … FAILOVER"
        case .slotInvalidationReason: "invalidation_reason, inactive_since, synced in pg_replication_slots"
        case .flushedMessages: "logical decoding messages flushed at once"
        case .alterSlotTwoPhase: "ALTER_REPLICATION_SLOT … TWO_PHASE"
        case .publishedGeneratedColumns: "published generated columns"
        case .idleSlotTimeout: "idle_replication_slot_timeout (reason idle_timeout)"
        }
    }

    /// Where this package uses it.
    public var usedBy: String {
        switch self {
        case .protocol2Streaming: "`streaming = .on`"
        case .binaryValues: "`binary`"
        case .logicalDecodingMessages: "`messages`, backfills, heartbeats"
        case .twoPhaseSlots: "`twoPhase`, `createReplicationSlot(twoPhase:)`"
        case .protocol3TwoPhase: "`twoPhase`"
        case .rowFiltersAndColumnLists: "snapshots and backfills follow them"
        case .replicationCommandOptionLists: "`readReplicationSlot(_:)`, `pgrepl receivewal --slot`"
        case .protocol4ParallelStreaming: "`streaming = .parallel`"
        case .decodingOnStandby: "a DSN naming the standby"
        case .slotConflicting: "`pgrepl slot list`, the stream's diagnosis"
        case .failoverSlots: "`createReplicationSlot(failover:)`, `alterReplicationSlot`, `failoverSlot`"
        case .slotInvalidationReason: "`pgrepl slot status`, the stream's diagnosis"
        case .flushedMessages: "backfill watermarks without waiting for the WAL writer"
        case .alterSlotTwoPhase: "`alterReplicationSlot(_:failover:twoPhase:)`"
        case .publishedGeneratedColumns: "`publishGeneratedColumns`"
        case .idleSlotTimeout: "`ChangeStreamError.Kind.slotInvalidated`"
        }
    }

    /// The pgoutput protocol this feature is, for the protocol features.
    public var protocolVersion: Int? { Self.protocolFeatures.first { $0.feature == self }?.version }

    /// The feature a streaming mode needs: `.on` protocol 2, `.parallel` protocol 4.
    public static func needed(for streaming: PGOutputDecoder.StreamingMode) -> ServerFeature? {
        switch streaming {
        case .off: nil
        case .on: .protocol2Streaming
        case .parallel: .protocol4ParallelStreaming
        }
    }

    /// The protocol versions and the feature that brings each.
    static let protocolFeatures: [(version: Int, feature: ServerFeature)] = [
        (2, .protocol2Streaming), (3, .protocol3TwoPhase), (4, .protocol4ParallelStreaming),
    ]

    /// The table of features, one row each in version order: `| since | feature | used by |`, as
    /// the documentation prints it.
    public static var markdownTable: String {
        (["| Needs | Feature | Used by |", "| --- | --- | --- |"]
            + allCases.map { "| \($0.since) | \($0.summary) | \($0.usedBy) |" }).joined(separator: "\n")
    }
}
