import Foundation
import PGReplication
import PGSupport

/// The demo's names: `public` tables and fixed names in a throwaway cluster, a schema, a
/// publication and a slot of their own (`pgrepl_demo_<hex>`) on a server given with `--dsn`.
struct DemoNames: Sendable {
    let schema: String
    let publication: String
    let slot: String
    /// Whether the demo created the schema (and drops it at the end).
    let ownSchema: Bool

    static let throwaway = DemoNames(
        schema: "public", publication: "pgrepl_demo", slot: "pgrepl_demo", ownSchema: false)

    static func unique() -> DemoNames {
        let name = "pgrepl_demo_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return DemoNames(schema: name, publication: name, slot: name, ownSchema: true)
    }

    /// `schema.table`, for the demo's own simple lower-case names.
    func table(_ name: String) -> String { "\(schema).\(name)" }

    /// Creates the tables and the publication.
    func create(_ sql: PGConnection) throws {
        if ownSchema { try sql.execute("CREATE SCHEMA \(schema)") }
        try sql.execute(
            """
            CREATE TABLE \(table("customers")) (
                id int PRIMARY KEY, name text NOT NULL, email text, vip boolean NOT NULL DEFAULT false);
            CREATE TABLE \(table("orders")) (
                id serial PRIMARY KEY, customer_id int NOT NULL, qty int NOT NULL, price numeric(10,2) NOT NULL,
                placed_at timestamptz NOT NULL DEFAULT now(), details jsonb, tags text[], status text NOT NULL DEFAULT 'new');
            CREATE PUBLICATION \(publication) FOR TABLE \(table("customers")), \(table("orders"));
            """)
    }

    /// Drops what ``create(_:)`` made (the temporary slot goes with the stream's connection).
    func drop(_ sql: PGConnection) throws {
        try sql.execute("DROP PUBLICATION IF EXISTS \(publication)")
        if ownSchema {
            try sql.execute("DROP SCHEMA IF EXISTS \(schema) CASCADE")
        } else {
            try sql.execute("DROP TABLE IF EXISTS \(table("orders")), \(table("customers"))")
        }
    }
}

/// The demo's live workload, on a thread of its own: inserts, updates, a multi-row transaction,
/// one that rolls back (and must not appear), a delete, a logical decoding message and a
/// truncate, `pause` seconds apart. It starts once the slot has its consistent point.
final class DemoWorkload: Sendable {
    /// The text the rolled-back transaction writes; it must never be printed.
    static let rolledBackMarker = "rolled-back"

    private let dsn: String
    private let names: DemoNames
    private let pause: Double
    private struct State {
        var stopped = false
        var outcome: Result<UInt32, any Error>?
    }

    private let state = Locked(State())

    /// Steps about a second apart, or what fits them into 60 % of `duration`.
    init(dsn: String, names: DemoNames, duration: Double?) {
        self.dsn = dsn
        self.names = names
        self.pause = duration.map { max(0.05, min(1.2, $0 * 0.6 / Double(Self.steps(names).count))) } ?? 1.2
    }

    /// The steps: each is one transaction's statements, and whether it rolls back.
    private var steps: [(statements: [String], rollback: Bool)] { Self.steps(names) }

    private static func steps(_ names: DemoNames) -> [(statements: [String], rollback: Bool)] {
        let customers = names.table("customers")
        let orders = names.table("orders")
        return [
            (
                [
                    "INSERT INTO \(customers) VALUES (1, 'Ada Lovelace', 'ada@example.com', true), (2, 'Alan Turing', NULL, false)"
                ], false
            ),
            (
                [
                    "INSERT INTO \(orders) (customer_id, qty, price, details, tags) VALUES (1, 2, 9.99, '{\"gift\": true}', '{books,paper}')"
                ], false
            ),
            (
                [
                    "INSERT INTO \(orders) (customer_id, qty, price, details, tags) VALUES (2, 1, 1234.50, '{\"note\": \"fragile\"}', '{hardware}')"
                ], false
            ),
            (["UPDATE \(orders) SET status = 'shipped' WHERE id = 1"], false),
            (
                [
                    "INSERT INTO \(orders) (customer_id, qty, price, tags) VALUES (2, 5, 0.25, '{}')",
                    "UPDATE \(customers) SET vip = true, email = 'alan@example.com' WHERE id = 2",
                    "UPDATE \(orders) SET qty = qty + 1 WHERE id = 2",
                ], false
            ),
            (
                [
                    "INSERT INTO \(orders) (customer_id, qty, price, tags) VALUES (1, 99, 99.99, '{\(Self.rolledBackMarker)}')"
                ], true
            ),
            (["DELETE FROM \(orders) WHERE id = 2"], false),
            (["SELECT pg_logical_emit_message(true, 'pgrepl-demo', 'a logical decoding message')"], false),
            (["TRUNCATE \(orders)"], false),
        ]
    }

    /// Starts the thread.
    func start() {
        let thread = Thread { [self] in
            let result = Result { try run() }
            state.withLock { $0.outcome = result }
            state.broadcast()
        }
        thread.name = "pgrepl-demo-workload"
        thread.start()
    }

    /// Asks the thread to stop after the step in hand.
    func stop() {
        state.withLock { $0.stopped = true }
        state.broadcast()
    }

    /// Waits for the thread to end.
    func wait() {
        state.withLock(when: { $0.outcome != nil }) { _, _ in }
    }

    /// The xid of the last transaction once the workload completed, or its error.
    var result: Result<UInt32, any Error>? {
        state.withLock { $0.outcome }
    }

    /// Sleeps `seconds` unless stopped; returns whether to go on.
    private func sleep(_ seconds: Double) -> Bool {
        state.withLock(when: { $0.stopped }, deadline: Date().addingTimeInterval(seconds)) { state, _ in !state.stopped
        }
    }

    private func run() throws -> UInt32 {
        let sql = try PGConnection(dsn)
        defer { sql.close() }
        // The slot exists once the stream created it and found its consistent point.
        while try SlotStatus.read(names.slot, on: sql)?.confirmedFlushLSN == nil {
            guard sleep(0.05) else { throw CancellationError() }
        }
        var lastXID: UInt32 = 0
        for (index, step) in steps.enumerated() {
            guard sleep(index == 0 ? 0.3 : pause) else { throw CancellationError() }
            try sql.execute("BEGIN")
            for statement in step.statements { try sql.execute(statement) }
            if !step.rollback {
                lastXID = UInt32(truncatingIfNeeded: UInt64(try sql.execute("SELECT txid_current()").scalar ?? "") ?? 0)
            }
            try sql.execute(step.rollback ? "ROLLBACK" : "COMMIT")
        }
        return lastXID
    }
}
