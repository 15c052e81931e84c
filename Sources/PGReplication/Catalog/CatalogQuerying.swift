import PGOutput

/// What the catalog room's readings run on: an ordinary connection, or one that reconnects on its
/// own (`pgrepl`'s catalog connection).
package protocol CatalogQuerying {
    func execute(_ sql: String) throws -> PGConnection.QueryResult
}

extension PGConnection: CatalogQuerying {}
