import PGOutput

extension ChangeStream {
    // MARK: - What a failure means

    /// Whether reconnecting can cure `error`: a ``PGError`` that ``PGError/isTransient``; no
    /// other error.
    static func isRetryable(_ error: any Error) -> Bool { (error as? PGError)?.isTransient ?? false }

    /// After a failure: a missing or invalidated slot becomes its own error.
    ///
    /// The server is asked rather than its message read: `pg_replication_slots` says whether the
    /// slot exists and whether it was invalidated (``SlotStatus/invalidationReason``). Messages are translated (`lc_messages`), so
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
