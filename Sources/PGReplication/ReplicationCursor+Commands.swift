import PGOutput

/// The row `CREATE_REPLICATION_SLOT` returns.
public struct ReplicationSlot: Hashable, Sendable {
    public var slotName: String
    /// Where the slot starts: the first change a logical slot decodes commits after it.
    public var consistentPoint: LSN
    /// The exported snapshot (logical slots created with `snapshot: .export`), valid until the
    /// next command on this connection.
    public var snapshotName: String?
    public var outputPlugin: String?
}

/// What `CREATE_REPLICATION_SLOT … LOGICAL` does with the slot's snapshot.
public enum SnapshotAction: String, Hashable, Sendable {
    /// Export it for `SET TRANSACTION SNAPSHOT` on other connections (the server's default).
    case export
    /// Use it in the current transaction of this connection.
    case use
    /// Do neither.
    case nothing
}

/// The row `IDENTIFY_SYSTEM` returns.
public struct IdentifySystem: Hashable, Sendable {
    public var systemID: String
    public var timeline: UInt32
    /// The current WAL flush position.
    public var xlogPosition: LSN
    /// The database of a logical connection; nil on a physical one.
    public var database: String?
}

/// The row `TIMELINE_HISTORY` returns.
public struct TimelineHistory: Hashable, Sendable {
    public var fileName: String
    public var content: String
}

/// The row `READ_REPLICATION_SLOT` returns for an existing (physical) slot.
public struct ReplicationSlotPosition: Hashable, Sendable {
    public var slotType: String
    public var restartLSN: LSN?
    public var restartTimeline: UInt32?
}

extension ReplicationCursor {
    // MARK: - Typed commands

    /// `IDENTIFY_SYSTEM`: system identifier, timeline, current WAL position and database.
    ///
    /// The corresponding libpq functions are `PQsendQuery` and `PQgetResult` (`PQexec` without a stop signal).
    public func identifySystem() throws -> IdentifySystem {
        let (_, row) = try queryRow("IDENTIFY_SYSTEM")
        guard let row, row.count >= 4, let systemID = row[0], let timeline = row[1].flatMap({ UInt32($0) }),
            let position = row[2]
        else { throw PGError(.database, "IDENTIFY_SYSTEM returned an unexpected row", command: "IDENTIFY_SYSTEM") }
        return IdentifySystem(systemID: systemID, timeline: timeline, xlogPosition: try lsn(position), database: row[3])
    }

    /// `SHOW name`: a server setting as text.
    public func show(_ name: String) throws -> String {
        let (_, row) = try queryRow("SHOW \(try quoteIdentifier(name, what: "the setting name"))")
        guard let value = row?.first ?? nil else { throw PGError(.database, "SHOW returned no value") }
        return value
    }

    /// `TIMELINE_HISTORY n`: the history file of a timeline (timelines after the first).
    public func timelineHistory(_ timeline: UInt32) throws -> TimelineHistory {
        let (_, row) = try queryRow("TIMELINE_HISTORY \(timeline)")
        guard let row, row.count >= 2, let name = row[0], let content = row[1] else {
            throw PGError(.database, "TIMELINE_HISTORY returned an unexpected row")
        }
        return TimelineHistory(fileName: name, content: content)
    }

    /// `READ_REPLICATION_SLOT` (PostgreSQL 15+, physical slots): nil when there is no such slot.
    public func readReplicationSlot(_ slotName: String) throws -> ReplicationSlotPosition? {
        try connection.version.require(.replicationCommandOptionLists, "READ_REPLICATION_SLOT")
        let (_, row) = try queryRow("READ_REPLICATION_SLOT \(try quoteIdentifier(slotName, what: "the slot name"))")
        guard let row, row.count >= 3, let type = row[0] else { return nil }
        return ReplicationSlotPosition(
            slotType: type, restartLSN: try row[1].map(lsn), restartTimeline: row[2].flatMap { UInt32($0) })
    }

    // MARK: - Slots

    /// `CREATE_REPLICATION_SLOT`: creates a slot and returns the server's row (which also stays on
    /// the cursor for ``fetchall()``, as in psycopg2).
    ///
    /// - Parameters:
    ///   - slotName: sent as a quoted identifier.
    ///   - slotType: logical or physical; the connection's type by default.
    ///   - outputPlugin: required for logical slots, refused for physical ones.
    ///   - temporary: dropped when the connection ends.
    ///   - twoPhase: decode prepared transactions at PREPARE (logical, PostgreSQL 14+).
    ///   - reserveWAL: reserve WAL at once (physical).
    ///   - snapshot: what to do with the logical slot's snapshot; the server's default (export) when nil.
    ///   - failover: let standbys with `sync_replication_slots` keep a copy of the slot, so that a
    ///     promoted standby can continue the stream (logical, not temporary, PostgreSQL 17+).
    /// - Throws: `PGError`: `.programming` for contradictory arguments (the checks and messages of
    ///   psycopg2), or the server's error (an existing slot: `.programming`, 42710).
    ///
    /// The corresponding libpq functions are `PQsendQuery` and `PQgetResult` (`PQexec` without a stop signal), and `PQescapeIdentifier` for the names.
    @discardableResult
    public func createReplicationSlot(
        _ slotName: String, slotType: ReplicationType? = nil, outputPlugin: String? = nil, temporary: Bool = false,
        twoPhase: Bool = false, reserveWAL: Bool = false, snapshot: SnapshotAction? = nil, failover: Bool = false
    ) throws -> ReplicationSlot {
        try checkOpen()
        var command = "CREATE_REPLICATION_SLOT \(try quoteIdentifier(slotName, what: "the slot name"))"
        if temporary { command += " TEMPORARY" }
        var options: [String] = []
        let modern = connection.version.supports(.replicationCommandOptionLists)
        switch slotType ?? connection.replicationType {
        case .logical:
            guard let outputPlugin else {
                throw PGError.programming("output plugin name is required to create logical replication slot")
            }
            guard !reserveWAL else {
                throw PGError.programming("reserveWAL applies to physical replication slots only")
            }
            command += " LOGICAL \(try quoteIdentifier(outputPlugin, what: "the output plugin name"))"
            if twoPhase {
                try connection.version.require(.twoPhaseSlots, "a two-phase slot")
                options.append(modern ? "TWO_PHASE true" : "TWO_PHASE")
            }
            if failover {
                guard !temporary else {
                    throw PGError.programming("a temporary replication slot cannot be a failover slot")
                }
                try connection.version.require(.failoverSlots, "a failover slot")
                options.append("FAILOVER true")
            }
            if let snapshot {
                if modern {
                    options.append("SNAPSHOT '\(snapshot.rawValue)'")
                } else {
                    let keyword = ["export": "EXPORT_SNAPSHOT", "use": "USE_SNAPSHOT", "nothing": "NOEXPORT_SNAPSHOT"]
                    options.insert(keyword[snapshot.rawValue] ?? "EXPORT_SNAPSHOT", at: 0)
                }
            }
        case .physical:
            guard outputPlugin == nil else {
                throw PGError.programming("cannot specify output plugin name when creating physical replication slot")
            }
            guard !twoPhase else { throw PGError.programming("twoPhase applies to logical replication slots only") }
            guard !failover else { throw PGError.programming("failover applies to logical replication slots only") }
            guard snapshot == nil else {
                throw PGError.programming("a snapshot action applies to logical replication slots only")
            }
            command += " PHYSICAL"
            if reserveWAL { options.append(modern ? "RESERVE_WAL true" : "RESERVE_WAL") }
        }
        if !options.isEmpty {
            command += modern ? " (\(options.joined(separator: ", ")))" : " " + options.joined(separator: " ")
        }
        let (_, row) = try queryRow(command)
        logger.debug("replication slot created", metadata: ["pgrepl.slot": "\(slotName)"])
        guard let row, row.count >= 4 else {
            return ReplicationSlot(
                slotName: slotName, consistentPoint: 0, snapshotName: nil, outputPlugin: outputPlugin)
        }
        return ReplicationSlot(
            slotName: row[0] ?? slotName, consistentPoint: try row[1].map(lsn) ?? 0, snapshotName: row[2],
            outputPlugin: row[3])
    }

    /// `ALTER_REPLICATION_SLOT`: changes a logical slot's failover (PostgreSQL 17+) or two-phase
    /// (18+) property. An argument left nil stays as it is.
    ///
    /// - Throws: `PGError`: `.programming` when nothing is to change, `.notSupported` on a server
    ///   without the property, or the server's error (an active slot: 55006; a missing one: 42704).
    ///
    /// The corresponding libpq functions are `PQexec` and `PQescapeIdentifier`.
    public func alterReplicationSlot(_ slotName: String, failover: Bool? = nil, twoPhase: Bool? = nil) throws {
        try checkOpen()
        var options: [String] = []
        if let failover {
            try connection.version.require(.failoverSlots, "ALTER_REPLICATION_SLOT … FAILOVER")
            options.append("FAILOVER \(failover)")
        }
        if let twoPhase {
            try connection.version.require(.alterSlotTwoPhase, "ALTER_REPLICATION_SLOT … TWO_PHASE")
            options.append("TWO_PHASE \(twoPhase)")
        }
        guard !options.isEmpty else {
            throw PGError.programming("alterReplicationSlot needs failover or twoPhase")
        }
        let name = try quoteIdentifier(slotName, what: "the slot name")
        try execute("ALTER_REPLICATION_SLOT \(name) (\(options.joined(separator: ", ")))")
        logger.debug("replication slot altered", metadata: ["pgrepl.slot": "\(slotName)"])
    }

    /// `DROP_REPLICATION_SLOT`, optionally with `WAIT` (wait for an active slot to be released
    /// instead of failing).
    ///
    /// The corresponding libpq functions are `PQexec` and `PQescapeIdentifier`.
    public func dropReplicationSlot(_ slotName: String, wait: Bool = false) throws {
        try checkOpen()
        let command =
            "DROP_REPLICATION_SLOT \(try quoteIdentifier(slotName, what: "the slot name"))" + (wait ? " WAIT" : "")
        try execute(command)
        logger.debug("replication slot dropped", metadata: ["pgrepl.slot": "\(slotName)"])
    }

    func lsn(_ text: String) throws -> LSN {
        do {
            return try LSN(text)
        } catch {
            throw PGError(.database, "the server sent \(error)")
        }
    }
}
