import Foundation
import Logging
import PGSupport

/// The kind of replication a connection or slot is for (psycopg2's `REPLICATION_LOGICAL` and
/// `REPLICATION_PHYSICAL`).
public enum ReplicationType: String, Sendable, Hashable, CaseIterable {
    /// Logical decoding through an output plugin (`replication=database`).
    case logical
    /// Physical WAL streaming (`replication=true`).
    case physical
}

/// A connection in replication mode: the base of ``LogicalReplicationConnection`` and
/// ``PhysicalReplicationConnection``, psycopg2's `ReplicationConnection`.
///
/// The DSN (a conninfo string such as `host=db user=repl dbname=app`, or a `postgresql://` URI)
/// is rewritten as psycopg2 rewrites it: a logical connection adds `replication=database` and
/// keeps the database; a physical one adds `replication=true` and forces `dbname=replication`
/// (which is what `.pgpass` matches for physical replication). No session-setup SQL is ever sent:
/// walsenders refuse `SET`.
///
/// - Important: A connection and its cursors have one owner. They are not `Sendable`: use them from
///   one thread at a time (libpq's rule for a connection). Pass them to another task with `sending`.
public class ReplicationConnection {
    /// Logical or physical.
    public let replicationType: ReplicationType
    /// The rewritten DSN with any password replaced by `xxx` (as psycopg2 shows it).
    public let dsn: String

    let pq: PQConnection
    let logger: Logger
    /// Set once the client stopped a logical stream: the server's walsender does not reset its
    /// end-of-copy state for a second logical START on the same connection (PostgreSQL resets it
    /// for physical streams only), so such a START would end at once.
    var stoppedLogicalStream = false
    /// The engine streaming on this connection, if any: ``close()`` goes through it, so that the
    /// keeper thread never uses a freed connection. A strong reference on purpose: a weak one
    /// gives the engine a side table, and every retain and release on the read path then takes
    /// the runtime's slow path (a tenth of a fast consumer's user time).
    var activeEngine: CopyBothEngine?

    /// What may cut this connection's waits short (set by ``ChangeStream``).
    let interruption: Interruption

    init(dsn: String, replicationType: ReplicationType, logger: Logger?, interruption: Interruption = .none) throws {
        self.replicationType = replicationType
        self.interruption = interruption
        self.logger = logger ?? .disabled
        let parameters = try Self.parameters(dsn: dsn, for: replicationType)
        self.dsn = parameters.redacted
        do {
            self.pq = try parameters.connect(interruption: interruption)
        } catch {
            self.logger.debug("replication connection failed", metadata: ["pgrepl.error": "\(error)"])
            throw error
        }
        self.logger.debug(
            "replication connection open",
            metadata: [
                "pgrepl.type": "\(replicationType.rawValue)", "pgrepl.backend_pid": "\(pq.backendPID)",
                "pgrepl.server_version": "\(pq.serverVersion)",
            ])
    }

    /// psycopg2's `make_dsn` with the replication keywords: a logical connection adds
    /// `replication=database`, a physical one `replication=true` and `dbname=replication`.
    static func parameters(dsn: String, for type: ReplicationType) throws -> ConnectionParameters {
        var parameters = try ConnectionParameters(dsn: dsn)
        // The forms values are sent in, pinned as PostgreSQL's own logical replication worker pins
        // them (`libpqwalreceiver.c`): a role's or database's DateStyle, IntervalStyle or
        // extra_float_digits must not change how values decode. Given last, they win over the
        // same settings in the DSN's own `options`.
        parameters.append(toOptions: "-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3")
        switch type {
        case .logical:
            parameters.set("replication", "database")
        case .physical:
            parameters.set("dbname", "replication")
            parameters.set("replication", "true")
        }
        return parameters
    }

    deinit { pq.finish() }

    /// Whether ``close()`` was called (or the connection was never opened).
    public var closed: Bool { pq.isFinished }

    /// A new cursor on this connection. Feedback state lives in the cursor, as in psycopg2.
    ///
    /// - Throws: `PGError` (`.interface`) when the connection is closed.
    public func cursor() throws -> ReplicationCursor {
        guard !closed else { throw PGError.interface("connection already closed") }
        return ReplicationCursor(connection: self)
    }

    /// Closes the connection (`PQfinish`). Closing twice does nothing.
    ///
    /// Safe while a stream runs, from inside a consumer callback too: the engine's keeper thread
    /// is kept away from the connection, and ``ReplicationCursor/consumeStream(keepaliveInterval:idleInterval:onIdle:_:)``
    /// ends with an error once the callback returns.
    ///
    /// The corresponding libpq function is `PQfinish`.
    public func close() {
        if let engine = activeEngine {
            engine.close()
        } else {
            if !pq.isFinished { logger.debug("replication connection closed") }
            pq.finish()
        }
    }

    /// The connection's socket, for `poll`/`select` in an event loop.
    ///
    /// The corresponding libpq function is `PQsocket`.
    public func fileno() throws -> Int32 {
        let socket = pq.socket
        guard socket >= 0 else { throw PGError.interface("connection already closed") }
        return socket
    }

    /// The server version as an integer, e.g. 150018 (`PQserverVersion`).
    public var serverVersion: Int { pq.serverVersion }

    /// The process ID of the server's walsender (`PQbackendPID`); psycopg2's `get_backend_pid()`.
    public var backendPID: Int { pq.backendPID }

    /// Whether the connection uses TLS (`PQsslInUse`).
    public var usesTLS: Bool { pq.sslInUse }

    /// A server parameter reported at connection start (`PQparameterStatus`), e.g. `server_encoding`.
    public func parameterStatus(_ name: String) -> String? { pq.parameterStatus(name) }
}

@available(*, unavailable, message: "a replication connection has one owner; pass it on with `sending`")
extension ReplicationConnection: Sendable {}

/// A logical replication connection: `replication=database`, the given database kept.
///
/// ```swift
/// let connection = try LogicalReplicationConnection("host=localhost dbname=app user=repl")
/// let cursor = try connection.cursor()
/// ```
public final class LogicalReplicationConnection: ReplicationConnection {
    /// Connects. - Parameters: dsn: a conninfo string or `postgresql://` URI; logger: where the
    /// library logs (debug for connection events, trace per message); nothing by default.
    ///
    /// The corresponding libpq functions are `PQconninfoParse` (the DSN), `PQconnectStartParams` and
    /// `PQconnectPoll`.
    public init(_ dsn: String, logger: Logger? = nil) throws {
        try super.init(dsn: dsn, replicationType: .logical, logger: logger)
    }

    /// Connects with waits that `interruption` can cut short.
    init(_ dsn: String, logger: Logger?, interruption: Interruption) throws {
        try super.init(dsn: dsn, replicationType: .logical, logger: logger, interruption: interruption)
    }
}

/// A physical replication connection: `replication=true`, `dbname=replication`.
public final class PhysicalReplicationConnection: ReplicationConnection {
    /// Connects. - Parameters: dsn: a conninfo string or `postgresql://` URI; logger: where the
    /// library logs; nothing by default.
    ///
    /// The corresponding libpq functions are `PQconninfoParse` (the DSN), `PQconnectStartParams` and
    /// `PQconnectPoll`.
    public init(_ dsn: String, logger: Logger? = nil) throws {
        try super.init(dsn: dsn, replicationType: .physical, logger: logger)
    }
}
