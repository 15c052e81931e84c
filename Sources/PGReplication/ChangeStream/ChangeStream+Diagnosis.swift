import PGOutput

extension ChangeStream {
    // MARK: - What a failure means

    /// Whether reconnecting can cure `error`: a ``PGError`` that ``PGError/isTransient``; no
    /// other error.
    func isRetryable(_ error: any Error) -> Bool { (error as? PGError)?.isTransient ?? false }

    /// After a failure: a missing or invalidated slot becomes its own error.
    ///
    /// The server is asked rather than its message read: `pg_replication_slots` says whether the
    /// slot exists, and its `wal_status` (`lost`), `invalidation_reason` (PostgreSQL 17+) and
    /// `conflicting` (16+) whether it was invalidated. Messages are translated (`lc_messages`), so
    /// their words prove nothing. When the server cannot be reached, nothing is concluded.
    func diagnoseSlot(after error: any Error) throws -> ChangeStreamError? {
        if let typed = error as? ChangeStreamError { return typed }
        guard let pgError = error as? PGError else { return nil }
        // What this library refused itself (a setting the server lacks, a bad argument) is not
        // about the slot.
        if pgError.sqlState == nil, [.programming, .notSupported].contains(pgError.kind) { return nil }
        guard let connection = try? PGConnection(configuration.dsn, logger: logger, interruption: interruption) else {
            return nil
        }
        defer { connection.close() }
        let status: SlotStatus?
        do {
            status = try SlotStatus.read(configuration.slot, on: connection)
        } catch {
            return nil
        }
        guard let status else {
            return ChangeStreamError(
                .slotMissing, "replication slot \"\(configuration.slot)\" does not exist", slot: configuration.slot,
                underlying: pgError)
        }
        if let reason = status.invalidationReason {
            return ChangeStreamError(
                .slotInvalidated, "replication slot \"\(configuration.slot)\" was invalidated (\(reason))",
                slot: configuration.slot, underlying: pgError)
        }
        return nil
    }
}

/// What `pg_replication_slots` says of one slot, as far as the stream's diagnosis needs it.
struct SlotStatus: Hashable {
    /// Why the slot can no longer be used, when it cannot: the server's `invalidation_reason`
    /// (PostgreSQL 17+), `wal_status = lost`, or `conflicting` (16+).
    var invalidationReason: String?

    /// The slot's row, or nil when there is no such slot.
    static func read(_ slot: String, on connection: PGConnection) throws -> SlotStatus? {
        let version = connection.serverVersion
        let reason =
            version >= 170000
            ? "invalidation_reason"
            : version >= 160000 ? "CASE WHEN conflicting THEN 'rows_removed' END" : "NULL::text"
        let result = try connection.execute(
            "SELECT wal_status, \(reason) FROM pg_replication_slots WHERE slot_name = \(try connection.quoteLiteral(slot))"
        )
        guard let row = result.rows.first, row.count == 2 else { return nil }
        if let reason = row[1] { return SlotStatus(invalidationReason: reason) }
        return SlotStatus(invalidationReason: row[0] == "lost" ? "wal_status lost" : nil)
    }
}
