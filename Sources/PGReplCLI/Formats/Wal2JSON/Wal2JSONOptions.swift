import ArgumentParser
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

    /// One `-o NAME[=VALUE]`, parsed (and refused when wrong) once, where the command line is
    /// read; ``init(_:)`` applies the settings in order.
    struct Setting: Sendable {
        let argument: String
        let apply: @Sendable (inout Wal2JSONOptions) -> Void

        /// For `@Option(transform:)`: the refusal as the parser reports it.
        static func argument(_ argument: String) throws -> Setting {
            do {
                return try Setting(parsing: argument)
            } catch {
                throw ValidationError(error.message)
            }
        }

        init(parsing argument: String) throws(CLIError) {
            self.argument = argument
            apply = try Self.parse(argument)
        }

        private static func parse(_ argument: String) throws(CLIError) -> @Sendable (inout Wal2JSONOptions) -> Void {
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
            func set(
                _ path: @escaping @Sendable (inout Wal2JSONOptions, Bool) -> Void
            ) throws(CLIError)
                -> @Sendable (inout Wal2JSONOptions) -> Void
            {
                let on = try flag()
                return { path(&$0, on) }
            }
            switch name {
            case "include-transaction": return try set { $0.includeTransaction = $1 }
            case "include-xids": return try set { $0.includeXids = $1 }
            case "include-timestamp": return try set { $0.includeTimestamp = $1 }
            case "include-schemas": return try set { $0.includeSchemas = $1 }
            case "include-types": return try set { $0.includeTypes = $1 }
            case "include-type-oids": return try set { $0.includeTypeOids = $1 }
            case "include-domain-data-type": return try set { $0.includeDomainDataType = $1 }
            case "include-column-positions": return try set { $0.includeColumnPositions = $1 }
            case "include-not-null": return try set { $0.includeNotNull = $1 }
            case "include-default": return try set { $0.includeDefault = $1 }
            case "include-pk": return try set { $0.includePK = $1 }
            case "include-lsn": return try set { $0.includeLSN = $1 }
            case "numeric-data-types-as-string": return try set { $0.numericDataTypesAsString = $1 }
            // What wal2json's format-version 2 ignores: typmods are always in the type names,
            // and lines are never pretty-printed or chunked.
            case "include-typmod", "pretty-print", "write-in-chunks": return try set { _, _ in }
            case "format-version":
                guard value == "2" else { throw refuse("pgrepl writes wal2json's format-version 2 only") }
                return { _ in }
            case "actions":
                guard let value else { return { _ in } }
                var actions = Set<Action>()
                for item in try split(value, argument: argument) {
                    guard let action = Action(rawValue: item) else {
                        throw refuse("unknown action \"\(item)\" (insert, update, delete, truncate)")
                    }
                    actions.insert(action)
                }
                return { [actions] in $0.actions = actions }
            // As wal2json: a repeated add-tables replaces the list, the others add to theirs;
            // an option without a value empties its list.
            case "add-tables":
                let patterns = try value.map { value throws(CLIError) in try tablePatterns(value, argument: argument) }
                return { $0.addTables = patterns ?? [] }
            case "filter-tables":
                let patterns = try value.map { value throws(CLIError) in try tablePatterns(value, argument: argument) }
                return { options in
                    if let patterns { options.filterTables += patterns } else { options.filterTables = [] }
                }
            case "add-msg-prefixes":
                let prefixes = try value.map { value throws(CLIError) in try split(value, argument: argument) }
                return { options in
                    options.addMessagePrefixes = prefixes.map { (options.addMessagePrefixes ?? []) + $0 } ?? []
                }
            case "filter-msg-prefixes":
                let prefixes = try value.map { value throws(CLIError) in try split(value, argument: argument) }
                return { options in
                    if let prefixes {
                        options.filterMessagePrefixes += prefixes
                    } else {
                        options.filterMessagePrefixes = []
                    }
                }
            case "include-origin", "filter-origins", "include-unchanged-toast":
                throw refuse("not supported by pgrepl")
            default:
                throw refuse(
                    "unknown option (wal2json's format-version 2 options: include-xids, include-timestamp, include-lsn, …)"
                )
            }
        }
    }

    /// The defaults with `settings` applied in order.
    init(_ settings: [Setting] = []) {
        for setting in settings { setting.apply(&self) }
    }

    /// Parses `NAME=VALUE` (or `NAME`, which means true for booleans), in order.
    static func parse(_ arguments: [String]) throws(CLIError) -> Wal2JSONOptions {
        var settings: [Setting] = []
        for argument in arguments { settings.append(try Setting(parsing: argument)) }
        return Wal2JSONOptions(settings)
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
            // By scalar: a separator followed by a combining mark is one Character.
            for character in item.unicodeScalars {
                if escaped {
                    if inTable {
                        table.unicodeScalars.append(character)
                    } else {
                        schema.unicodeScalars.append(character)
                    }
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == ".", !inTable {
                    inTable = true
                } else if inTable {
                    table.unicodeScalars.append(character)
                } else {
                    schema.unicodeScalars.append(character)
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
