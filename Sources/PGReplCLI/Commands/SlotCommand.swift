import ArgumentParser
import PGReplication

/// `pgrepl slot`: create, drop, list and inspect replication slots.
struct SlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slot",
        abstract: "Create, drop, list and inspect replication slots.",
        subcommands: [Create.self, Alter.self, Drop.self, List.self, Status.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a logical (default) or physical replication slot.",
            discussion:
                "Prints the slot name and its consistent point (where a logical slot's first change commits after).")

        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The slot name.") var slot: String
        @Option(help: "The output plugin of a logical slot.") var plugin: String = "pgoutput"
        @Flag(help: "Create a physical slot (it reserves WAL at once).") var physical = false
        @Flag(help: "Drop the slot when this command's connection ends (useful for tests only).") var temporary = false
        @Flag(help: "Decode prepared transactions at PREPARE (logical slots, PostgreSQL 14+).") var twoPhase = false
        @Flag(
            help:
                "Let standbys with sync_replication_slots keep a copy, so that a promoted standby continues the stream (logical slots, PostgreSQL 17+)."
        )
        var failover = false

        func validate() throws {
            if physical, twoPhase { throw ValidationError("--two-phase applies to logical slots only") }
            if physical, failover { throw ValidationError("--failover applies to logical slots only") }
            if temporary, failover { throw ValidationError("a --temporary slot cannot be a --failover slot") }
        }

        func run() throws(CLIError) {
            let type: ReplicationType = physical ? .physical : .logical
            let connection = try connection.replicationConnection(type)
            defer { connection.close() }
            let created = try attempt("creating slot \"\(slot)\"") {
                try connection.cursor().createReplicationSlot(
                    slot, slotType: type, outputPlugin: physical ? nil : plugin, temporary: temporary,
                    twoPhase: twoPhase, reserveWAL: physical, snapshot: physical ? nil : .nothing, failover: failover)
            }
            // A physical slot has no consistent point.
            try Output.print(
                physical
                    ? "created physical slot \"\(created.slotName)\""
                    : "created logical slot \"\(created.slotName)\" (\(plugin)) at \(created.consistentPoint)"
                        + (failover ? ", failover" : ""))
        }
    }

    struct Alter: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "alter",
            abstract: "Change a logical slot's failover (PostgreSQL 17+) or two-phase (18+) property.",
            discussion: "The slot must not be in use. Prints what was changed.")

        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The slot name.") var slot: String
        @Option(help: ArgumentHelp("on or off.", valueName: "on|off")) var failover: Switch?
        @Option(help: ArgumentHelp("on or off (PostgreSQL 18+).", valueName: "on|off")) var twoPhase: Switch?

        func validate() throws {
            if failover == nil, twoPhase == nil { throw ValidationError("give --failover or --two-phase") }
        }

        func run() throws(CLIError) {
            let connection = try connection.replicationConnection(.logical)
            defer { connection.close() }
            try attempt("altering slot \"\(slot)\"") {
                try connection.cursor().alterReplicationSlot(
                    slot, failover: failover.map { $0 == .on }, twoPhase: twoPhase.map { $0 == .on })
            }
            let changed = [failover.map { "failover \($0.rawValue)" }, twoPhase.map { "two_phase \($0.rawValue)" }]
            try Output.print("altered slot \"\(slot)\": " + changed.compactMap { $0 }.joined(separator: ", "))
        }
    }

    /// An on/off option value.
    enum Switch: String, ExpressibleByArgument, CaseIterable {
        case on, off
    }

    struct Drop: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "drop", abstract: "Drop a replication slot.")

        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The slot name.") var slot: String
        @Flag(help: "Wait for a slot in use to be released instead of failing.") var wait = false

        func run() throws(CLIError) {
            // A physical connection can drop logical slots too, and needs no database.
            let connection = try connection.replicationConnection(.physical)
            defer { connection.close() }
            do {
                try attempt("dropping slot \"\(slot)\"") {
                    try connection.cursor().dropReplicationSlot(slot, wait: wait)
                }
            } catch var failure where failure.sqlState == SQLState.objectInUse.rawValue && !wait {
                // 55006: another process streams from it.
                failure.hint = "the slot is in use; --wait waits until its consumer lets it go"
                throw failure
            }
            try Output.print("dropped slot \"\(slot)\"")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List the replication slots of the server.")

        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Print a JSON array instead of a table.") var json = false

        func run() throws(CLIError) {
            let (version, slots) = try SlotInfo.fetch(connection, slot: nil)
            if json {
                try Output.print(renderJSON(slots))
                return
            }
            // Columns of later server versions only where the server has them.
            var header = [
                "name", "type", "plugin", "database", "active", "confirmed_flush_lsn", "restart_lsn", "wal_status",
            ]
            if version.supports(.slotConflicting) { header.append("conflicting") }
            if version.supports(.failoverSlots) { header += ["failover", "synced", "inactive_since"] }
            header.append("invalidation_reason")
            let rows = slots.map { slot in
                var row = [
                    slot.name, slot.type, slot.plugin ?? "", slot.database ?? "", slot.active ? "yes" : "no",
                    slot.confirmedFlushLSN?.description ?? "", slot.restartLSN?.description ?? "", slot.walStatus ?? "",
                ]
                if version.supports(.slotConflicting) { row.append(yesNo(slot.conflicting)) }
                if version.supports(.failoverSlots) {
                    row += [yesNo(slot.failover), yesNo(slot.synced), slot.inactiveSince ?? ""]
                }
                row.append(slot.invalidationReason ?? "")
                return row
            }
            try Output.print(renderTable(header: header, rows: rows))
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show one slot's positions, lag and state.",
            discussion: """
                lag_bytes is the server's current WAL position (the last received one on a standby) minus \
                confirmed_flush_lsn (restart_lsn for physical slots): the WAL the slot's consumer has not confirmed yet.
                """)

        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The slot name.") var slot: String
        @Flag(help: "Print a JSON object instead of lines.") var json = false

        func run() throws(CLIError) {
            let (version, slots) = try SlotInfo.fetch(connection, slot: slot)
            guard let info = slots.first else {
                throw CLIError.slotNotFound(slot, context: "reading slot \"\(slot)\"")
            }
            if json {
                try Output.print(renderJSON(info))
                return
            }
            var fields: [(String, String)] = [
                ("slot", info.name), ("type", info.type), ("plugin", info.plugin ?? "-"),
                ("database", info.database ?? "-"),
                ("confirmed_flush_lsn", info.confirmedFlushLSN?.description ?? "-"),
                ("restart_lsn", info.restartLSN?.description ?? "-"),
                ("current_lsn", info.currentLSN?.description ?? "-"),
                ("lag_bytes", info.lagBytes.map(String.init) ?? "-"), ("wal_status", info.walStatus ?? "-"),
                ("active", info.active ? "yes" : "no"), ("active_pid", info.activePID.map(String.init) ?? "-"),
            ]
            if version.supports(.slotConflicting) {
                fields.append(("conflicting", yesNo(info.conflicting, absent: "-")))
            }
            if version.supports(.failoverSlots) {
                fields += [
                    ("failover", yesNo(info.failover, absent: "-")), ("synced", yesNo(info.synced, absent: "-")),
                    ("inactive_since", info.inactiveSince ?? "-"),
                ]
            }
            fields.append(("invalidation_reason", info.invalidationReason ?? "-"))
            let width = fields.map(\.0.count).max() ?? 0
            try Output.print(
                fields.map { name, value in name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value }
                    .joined(separator: "\n"))
        }
    }
}

/// `yes`, `no`, or `absent` when the server has no value.
private func yesNo(_ flag: Bool?, absent: String = "") -> String {
    flag.map { $0 ? "yes" : "no" } ?? absent
}
