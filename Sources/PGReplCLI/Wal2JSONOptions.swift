import Foundation

/// wal2json's options (format-version 2), by their own names and defaults, as `pgrepl stream -o
/// NAME=VALUE` takes them (pg_recvlogical's `-o`).
struct Wal2JSONOptions: Equatable, Sendable {
    enum Action: String, CaseIterable, Sendable { case insert, update, delete, truncate }

    /// `schema.table` of `add-tables` / `filter-tables`; nil stands for `*`.
    struct TablePattern: Equatable, Sendable {
        var schema: String?
        var table: String?

        func matches(schema: String, table: String) -> Bool {
            (self.schema == nil || self.schema == schema) && (self.table == nil || self.table == table)
        }
    }

    var includeTransaction = true
    var includeXids = false
    var includeTimestamp = false
    var includeSchemas = true
    var includeTypes = true
    var includeTypeOids = false
    var includeDomainDataType = false
    var includeColumnPositions = false
    var includeNotNull = false
    var includeDefault = false
    var includePK = false
    var includeLSN = false
    var numericDataTypesAsString = false
    var actions = Set(Action.allCases)
    /// nil: every table.
    var addTables: [TablePattern]?
    var filterTables: [TablePattern] = []
    /// nil: every prefix.
    var addMessagePrefixes: [String]?
    var filterMessagePrefixes: [String] = []

    /// Whether a change of `schema.table` is written (`filter-tables` first, then `add-tables`).
    func includes(schema: String, table: String) -> Bool {
        if filterTables.contains(where: { $0.matches(schema: schema, table: table) }) { return false }
        return addTables.map { $0.contains { $0.matches(schema: schema, table: table) } } ?? true
    }

    /// Whether a message with `prefix` is written.
    func includes(messagePrefix prefix: String) -> Bool {
        if filterMessagePrefixes.contains(prefix) { return false }
        return addMessagePrefixes.map { $0.contains(prefix) } ?? true
    }

    /// Whether anything needs the catalog beyond the column types.
    var needsAttributes: Bool { includeNotNull || includeDefault || includePK || includeColumnPositions }

    /// Parses `NAME=VALUE` (or `NAME`, which means true for booleans), in order.
    static func parse(_ arguments: [String]) throws(CLIError) -> Wal2JSONOptions {
        var options = Wal2JSONOptions()
        for argument in arguments {
            let name: String
            let value: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            } else {
                name = argument
                value = nil
            }
            func refuse(_ why: String) -> CLIError {
                CLIError(.usage, "", "-o \(argument): \(why)")
            }
            func flag() throws(CLIError) -> Bool {
                guard let value else { return true }
                guard let parsed = parseBool(value) else { throw refuse("not a boolean (true, false, on, off, 1, 0)") }
                return parsed
            }
            switch name {
            case "include-transaction": options.includeTransaction = try flag()
            case "include-xids": options.includeXids = try flag()
            case "include-timestamp": options.includeTimestamp = try flag()
            case "include-schemas": options.includeSchemas = try flag()
            case "include-types": options.includeTypes = try flag()
            case "include-type-oids": options.includeTypeOids = try flag()
            case "include-domain-data-type": options.includeDomainDataType = try flag()
            case "include-column-positions": options.includeColumnPositions = try flag()
            case "include-not-null": options.includeNotNull = try flag()
            case "include-default": options.includeDefault = try flag()
            case "include-pk": options.includePK = try flag()
            case "include-lsn": options.includeLSN = try flag()
            case "numeric-data-types-as-string": options.numericDataTypesAsString = try flag()
            // What wal2json's format-version 2 ignores: typmods are always in the type names,
            // and lines are never pretty-printed or chunked.
            case "include-typmod", "pretty-print", "write-in-chunks": _ = try flag()
            case "format-version":
                guard value == "2" else { throw refuse("pgrepl writes wal2json's format-version 2 only") }
            case "actions":
                guard let value else { continue }
                var actions = Set<Action>()
                for item in try split(value, argument: argument) {
                    guard let action = Action(rawValue: item) else {
                        throw refuse("unknown action \"\(item)\" (insert, update, delete, truncate)")
                    }
                    actions.insert(action)
                }
                options.actions = actions
            // As wal2json: a repeated add-tables replaces the list, the others add to theirs;
            // an option without a value empties its list.
            case "add-tables":
                options.addTables =
                    try value.map { value throws(CLIError) in try tablePatterns(value, argument: argument) } ?? []
            case "filter-tables":
                guard let value else {
                    options.filterTables = []
                    continue
                }
                options.filterTables += try tablePatterns(value, argument: argument)
            case "add-msg-prefixes":
                guard let value else {
                    options.addMessagePrefixes = []
                    continue
                }
                options.addMessagePrefixes = (options.addMessagePrefixes ?? []) + (try split(value, argument: argument))
            case "filter-msg-prefixes":
                guard let value else {
                    options.filterMessagePrefixes = []
                    continue
                }
                options.filterMessagePrefixes += try split(value, argument: argument)
            case "include-origin", "filter-origins", "include-unchanged-toast":
                throw refuse("not supported by pgrepl")
            default:
                throw refuse(
                    "unknown option (wal2json's format-version 2 options: include-xids, include-timestamp, include-lsn, …)"
                )
            }
        }
        return options
    }

    /// PostgreSQL's boolean words, by unique prefix: `t`, `true`, `yes`, `on`, `1`, ….
    static func parseBool(_ text: String) -> Bool? {
        let word = text.lowercased()
        guard !word.isEmpty else { return nil }
        if "true".hasPrefix(word) || "yes".hasPrefix(word) || word == "1" { return true }
        if "false".hasPrefix(word) || "no".hasPrefix(word) || word == "0" { return false }
        if word.count >= 2, "on".hasPrefix(word) { return true }
        if word.count >= 2, "off".hasPrefix(word) { return false }
        return nil
    }

    /// A comma-separated list, blanks around items dropped; empty items are an error.
    private static func split(_ value: String, argument: String) throws(CLIError) -> [String] {
        let items = value.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        if value.trimmingCharacters(in: .whitespaces).isEmpty { return [] }
        guard !items.contains(where: \.isEmpty) else { throw CLIError(.usage, "", "-o \(argument): an empty item") }
        return items
    }

    /// `schema.table,…` with `*` for every schema or table and `\` escaping the next character.
    private static func tablePatterns(_ value: String, argument: String) throws(CLIError) -> [TablePattern] {
        try split(value, argument: argument).map { item throws(CLIError) in
            var schema = ""
            var table = ""
            var inTable = false
            var escaped = false
            for character in item {
                if escaped {
                    if inTable { table.append(character) } else { schema.append(character) }
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == ".", !inTable {
                    inTable = true
                } else if inTable {
                    table.append(character)
                } else {
                    schema.append(character)
                }
            }
            guard inTable else {
                throw CLIError(
                    .usage, "", "-o \(argument): \"\(item)\" is not schema.table (use *.table for every schema)")
            }
            // A `*` counts as every schema or table only when written bare (`\*` is a name).
            return TablePattern(
                schema: item.hasPrefix("*.") ? nil : schema,
                table: item.hasSuffix(".*") && !item.hasSuffix("\\.*") ? nil : table)
        }
    }
}
