import PGReplication

/// The slots `pgrepl slot list` and `slot status` show, as the catalog reads them (``SlotStatus``).
enum SlotInfo {
    /// The slots of the server (one slot when `slot` is given), by name, with the server's version
    /// (for the columns of later versions).
    static func fetch(
        _ options: ConnectionOptions, slot: String?
    ) throws(CLIError) -> (version: ServerVersion, slots: [SlotStatus]) {
        let connection = try options.sqlConnection()
        defer { connection.close() }
        return try attempt(slot.map { "reading slot \"\($0)\"" } ?? "listing slots") {
            (connection.version, try SlotStatus.read(slot, on: connection))
        }
    }
}
