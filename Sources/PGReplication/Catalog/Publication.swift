import PGOutput

/// A row of `pg_publication`: the one reading of it for the stream's checks, the creation of a
/// configured publication, `pgrepl stream`'s preflight and `pgrepl check`.
package struct Publication: Hashable, Sendable {
    package var name: String
    /// Whether it publishes updates or deletes (then every table needs a replica identity).
    package var publishesUpdatesOrDeletes: Bool

    /// The publications among `names` that exist, by name.
    package static func read(_ names: [String], on connection: PGConnection) throws -> [String: Publication] {
        guard !names.isEmpty else { return [:] }
        let list = try names.map { try connection.quoteLiteral($0) }.joined(separator: ", ")
        return try parse(connection.execute(query(list)).rows)
    }

    /// The same, over a replication connection.
    static func read(_ names: [String], on cursor: ReplicationCursor) throws -> [String: Publication] {
        guard !names.isEmpty else { return [:] }
        let list = try names.map { try cursor.quoteLiteral($0, what: "a publication name") }.joined(separator: ", ")
        try cursor.execute(query(list))
        return parse(cursor.resultRows)
    }

    /// The first of `names` that is not a publication, nil when all are.
    package static func firstMissing(_ names: [String], on connection: PGConnection) throws -> String? {
        let found = try read(names, on: connection)
        return names.first { found[$0] == nil }
    }

    /// The same, over a replication connection.
    static func firstMissing(_ names: [String], on cursor: ReplicationCursor) throws -> String? {
        let found = try read(names, on: cursor)
        return names.first { found[$0] == nil }
    }

    private static func query(_ list: String) -> String {
        "SELECT pubname, pubupdate OR pubdelete FROM pg_publication WHERE pubname IN (\(list))"
    }

    private static func parse(_ rows: [[String?]]) -> [String: Publication] {
        var found: [String: Publication] = [:]
        for row in rows {
            guard row.count == 2, let name = row[0] else { continue }
            found[name] = Publication(name: name, publishesUpdatesOrDeletes: row[1] == "t")
        }
        return found
    }
}
