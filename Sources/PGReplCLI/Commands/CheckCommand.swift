import ArgumentParser
import PGReplication

/// `pgrepl check`: what would break replication, before it breaks.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a server, its publications and a slot for what would stop logical replication.",
        discussion: """
            One line per finding: its level (ok, info, warning, error), the check, what was found and what to do. \
            The exit status is \(ExitStatus.findings.rawValue) when a finding would stop replication (an error), \
            0 otherwise. --json prints an array of {"level","check","message","fix"} objects instead.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Option(help: ArgumentHelp("A publication to check; repeat the option for several.", valueName: "name"))
    var publication: [String] = []
    @Option(help: ArgumentHelp("A replication slot to check.", valueName: "name")) var slot: String?
    @Flag(help: "Print a JSON array instead of lines.") var json = false

    func run() throws(CLIError) {
        let sql = try connection.sqlConnection()
        defer { sql.close() }
        let findings = try attempt("checking the server") {
            try Preflight(sql: sql, publications: publication, slot: slot).run()
        }
        if json {
            try Output.print(try renderJSON(findings))
        } else {
            try Output.print(findings.map(\.line).joined(separator: "\n"))
        }
        if findings.contains(where: { $0.level == .error }) {
            throw CLIError(
                .findings, "checking the server",
                "\(findings.filter { $0.level == .error }.count) finding(s) would stop replication")
        }
    }
}

/// One finding of `pgrepl check`.
struct Finding: Encodable, Equatable {
    enum Level: String, Encodable {
        case ok, info, warning, error
    }

    var level: Level
    /// Which check: `wal_level`, `slots`, `senders`, `role`, `privileges`, `replica_identity`,
    /// `row_filter`, `column_list`, `output_plugin_libraries`, `publication`, `slot`, `version`.
    var check: String
    var message: String
    /// What to do; nil when there is nothing to do.
    var fix: String?

    var line: String {
        level.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0) + "\(check): \(message)"
            + (fix.map { " — \($0)" } ?? "")
    }
}

/// The checks, on an ordinary connection.
struct Preflight {
    let sql: PGConnection
    let publications: [String]
    let slot: String?

    func run() throws -> [Finding] {
        var findings: [Finding] = []
        let settings = try ServerSettings.read(on: sql)
        findings += try version()
        findings += walLevel(settings)
        findings += try headroom(settings)
        findings += role(settings)
        findings += try pluginLibraries()
        for publication in publications { findings += try check(publication: publication) }
        if let slot { findings += try check(slot: slot) }
        return findings
    }

    /// The server's version with the feature table (``ServerFeature``): what it has, and what
    /// a later version would bring.
    private func version() throws -> [Finding] {
        let version = sql.version
        guard version.supports(.protocol2Streaming) else {
            return [
                Finding(
                    level: .error, check: "version", message: "PostgreSQL \(version) has no pgoutput protocol 2",
                    fix: "ChangeStream and pgrepl stream need PostgreSQL 14 or later")
            ]
        }
        let has = ServerFeature.allCases.filter { version.supports($0) }.map(\.summary)
        let lacks = ServerFeature.allCases.filter { !version.supports($0) }.map { "\($0.summary) (\($0.since)+)" }
        return [
            Finding(
                level: .info, check: "version",
                message: "PostgreSQL \(version): " + has.joined(separator: "; ")
                    + (lacks.isEmpty ? "" : "; not before a later version: " + lacks.joined(separator: "; ")))
        ]
    }

    private func walLevel(_ settings: ServerSettings) -> [Finding] {
        let level = settings.walLevel
        guard level == "logical" else {
            return [
                Finding(
                    level: .error, check: "wal_level", message: "wal_level is \(level); logical decoding needs logical",
                    fix: "ALTER SYSTEM SET wal_level = logical, then restart the server")
            ]
        }
        return [Finding(level: .ok, check: "wal_level", message: "wal_level is logical")]
    }

    private func headroom(_ settings: ServerSettings) throws -> [Finding] {
        let maxSlots = settings.maxReplicationSlots
        let existing = try SlotStatus.read(on: sql)
        let slots = existing.count
        let slotExists = slot.map { name in existing.contains { $0.name == name } } ?? false
        let maxSenders = settings.maxWALSenders
        let senders = settings.activeWALSenders
        return [
            Self.capacity(
                "slots", used: slots, limit: maxSlots, needed: !slotExists,
                full: "all \(maxSlots) replication slots (max_replication_slots) are used",
                fix: "drop unused slots (pgrepl slot list) or raise max_replication_slots and restart",
                usage: "\(slots) of \(maxSlots) replication slots used"),
            Self.capacity(
                "senders", used: senders, limit: maxSenders, needed: true,
                full: "all \(maxSenders) WAL senders (max_wal_senders) are busy",
                fix: "raise max_wal_senders and restart, or stop a consumer",
                usage: "\(senders) of \(maxSenders) WAL senders in use"),
        ]
    }

    /// A server limit: an error when one more is needed and none is free, a warning when one is
    /// left, else ok.
    private static func capacity(
        _ check: String, used: Int, limit: Int, needed: Bool, full: String, fix: String, usage: String
    ) -> Finding {
        if needed, used >= limit { return Finding(level: .error, check: check, message: full, fix: fix) }
        return Finding(level: needed && limit - used <= 1 ? .warning : .ok, check: check, message: usage)
    }

    private func role(_ settings: ServerSettings) -> [Finding] {
        let name = settings.role
        guard settings.roleMayReplicate else {
            return [
                Finding(
                    level: .error, check: "role", message: "role \(name) has no REPLICATION attribute",
                    fix: "ALTER ROLE \(name) REPLICATION")
            ]
        }
        return [Finding(level: .ok, check: "role", message: "role \(name) may open replication connections")]
    }

    /// PostgreSQL 18.x: replication connections may load only the plugins listed (superusers too).
    private func pluginLibraries() throws -> [Finding] {
        let libraries: String?
        do {
            libraries = try ServerSettings.outputPluginLibraries(on: sql)
        } catch let error as PGError where error.sqlState == .insufficientPrivilege {
            return [
                Finding(
                    level: .warning, check: "output_plugin_libraries",
                    message:
                        "this role may not read output_plugin_libraries; if it does not list pgoutput, streaming fails with SQLSTATE 42501",
                    fix: "GRANT pg_read_all_settings to the role to check, or look at the setting as a superuser")
            ]
        }
        // Servers without the setting load any plugin.
        guard let libraries else { return [] }
        let names = libraries.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard names.contains("pgoutput") else {
            return [
                Finding(
                    level: .error, check: "output_plugin_libraries",
                    message:
                        "output_plugin_libraries (\(libraries.isEmpty ? "empty" : libraries)) does not list pgoutput",
                    fix: "add pgoutput to output_plugin_libraries and reload the configuration")
            ]
        }
        return [
            Finding(level: .ok, check: "output_plugin_libraries", message: "pgoutput may be loaded (\(libraries))")
        ]
    }

    private func check(publication: String) throws -> [Finding] {
        guard let found = try Publication.read([publication], on: sql)[publication] else {
            return [
                Finding(
                    level: .error, check: "publication", message: "publication \"\(publication)\" does not exist",
                    fix: "CREATE PUBLICATION \(publication) FOR TABLE …")
            ]
        }
        let updatesOrDeletes = found.publishesUpdatesOrDeletes
        let tables = try PublishedTable.list([publication], sql: sql)
        var findings = [
            Finding(
                level: tables.isEmpty ? .warning : .ok, check: "publication",
                message: "publication \"\(publication)\" publishes \(tables.count) table(s)"
                    + (updatesOrDeletes ? ", with updates or deletes" : ""),
                fix: tables.isEmpty ? "ALTER PUBLICATION \(publication) ADD TABLE …" : nil)
        ]
        for table in tables {
            let name = table.qualifiedName
            if !table.selectable {
                findings.append(
                    Finding(
                        level: .warning, check: "privileges",
                        message: "no SELECT on \(name): an initial snapshot or a backfill cannot copy it",
                        fix: "GRANT SELECT ON \(name) TO current_user"))
            }
            guard updatesOrDeletes else { continue }
            if table.replicaIdentity == .nothing || (table.replicaIdentity == .default && table.key.isEmpty) {
                let why =
                    table.replicaIdentity == .nothing
                    ? "REPLICA IDENTITY NOTHING" : "no primary key and REPLICA IDENTITY DEFAULT"
                findings.append(
                    Finding(
                        level: .error, check: "replica_identity",
                        message: "\(name) has \(why): the server refuses its UPDATEs and DELETEs while it is published",
                        fix: "add a primary key, or ALTER TABLE \(name) REPLICA IDENTITY FULL (or USING INDEX)"))
                continue
            }
            let identity = table.replicaIdentity == .full ? table.allColumns : table.key
            if let columns = table.columnList, !Set(identity).isSubset(of: Set(columns)) {
                let missing = identity.filter { !columns.contains($0) }
                findings.append(
                    Finding(
                        level: .error, check: "column_list",
                        message: "the column list of \(name) leaves out replica identity column(s) "
                            + missing.joined(separator: ", ") + ": the server refuses its UPDATEs and DELETEs",
                        fix: "add them to the publication's column list"))
            }
            if let filter = table.filter, table.replicaIdentity != .full {
                let used = table.allColumns.filter { column in Self.mentions(filter, column) }
                let outside = used.filter { !identity.contains($0) }
                if !outside.isEmpty {
                    findings.append(
                        Finding(
                            level: .error, check: "row_filter",
                            message: "the row filter of \(name) \(filter) uses " + outside.joined(separator: ", ")
                                + ", outside the replica identity: the server refuses its UPDATEs and DELETEs",
                            fix: "filter on replica identity columns only, or REPLICA IDENTITY FULL"))
                }
            }
        }
        return findings
    }

    /// Whether `filter` (the server's deparsed expression) names `column` outside quotes.
    static func mentions(_ filter: String, _ column: String) -> Bool {
        var words: [String] = []
        var word = ""
        var inString = false
        var inIdentifier = false
        // By scalar: a quote followed by a combining mark is one Character.
        for character in filter.unicodeScalars {
            if inString {
                if character == "'" { inString = false }
                continue
            }
            if inIdentifier {
                if character == "\"" {
                    inIdentifier = false
                    words.append(word)
                    word = ""
                } else {
                    word.unicodeScalars.append(character)
                }
                continue
            }
            if character == "'" {
                inString = true
            } else if character == "\"" {
                inIdentifier = true
            } else if character.value >= 0x80 || ("0"..."9").contains(character) || character == "_" || character == "$"
                || ("a"..."z").contains(character) || ("A"..."Z").contains(character)
            {
                word.unicodeScalars.append(character)
                continue
            }
            if !word.isEmpty {
                words.append(word)
                word = ""
            }
        }
        if !word.isEmpty { words.append(word) }
        return words.contains(column)
    }

    private func check(slot: String) throws -> [Finding] {
        guard let status = try SlotStatus.read(slot, on: sql) else {
            return [
                Finding(
                    level: .warning, check: "slot", message: "slot \"\(slot)\" does not exist",
                    fix: "pgrepl slot create --slot \(slot), or --create-slot when streaming")
            ]
        }
        var findings: [Finding] = []
        if !status.isPGOutput {
            findings.append(
                Finding(
                    level: .error, check: "slot",
                    message:
                        "slot \"\(slot)\" is a \(status.type) slot\(status.plugin.map { " of \($0)" } ?? "")",
                    fix: "ChangeStream and pgrepl stream need a logical pgoutput slot"))
        }
        if let invalidated = status.invalidationReason {
            findings.append(
                Finding(
                    level: .error, check: "slot", message: "slot \"\(slot)\" was invalidated (\(invalidated))",
                    fix: "drop it and create it again; what it held is gone (take a new initial snapshot)"))
            return findings
        }
        let lag = status.lagBytes ?? 0
        switch status.walStatus {
        case "unreserved":
            findings.append(
                Finding(
                    level: .warning, check: "slot",
                    message: "slot \"\(slot)\" is about to lose WAL (wal_status unreserved, \(lag) bytes behind)",
                    fix: "let its consumer catch up now, or raise max_slot_wal_keep_size"))
        case "extended":
            findings.append(
                Finding(
                    level: .warning, check: "slot",
                    message: "slot \"\(slot)\" holds more WAL than max_wal_size (\(lag) bytes behind)",
                    fix: "check that its consumer runs and keeps up"))
        default:
            findings.append(
                Finding(
                    level: .ok, check: "slot",
                    message: "slot \"\(slot)\" is \(status.walStatus ?? "?"), \(lag) bytes behind")
            )
        }
        if status.active {
            findings.append(
                Finding(
                    level: .info, check: "slot",
                    message: "slot \"\(slot)\" is in use by PID \(status.activePID.map(String.init) ?? "?")",
                    fix: "a second consumer of the slot waits until that one ends"))
        }
        return findings
    }
}
