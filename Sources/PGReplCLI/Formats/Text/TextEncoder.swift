import PGOutput
import PGReplication

/// `--format text`: one readable line per change, with BEGIN and COMMIT lines (``TextChangeLines``).
final class TextEncoder: ChangeLineEncoder {
    func begin(_ transaction: TransactionLine, into out: inout [UInt8]) {
        out += Array("\(TextChangeLines.prefix(transaction.time, transaction.lsn, transaction.xid)) BEGIN\n".utf8)
    }

    func commit(_ transaction: TransactionLine, into out: inout [UInt8]) {
        out += Array(
            "\(TextChangeLines.prefix(transaction.time, transaction.lsn, transaction.xid)) COMMIT next \(transaction.endLSN ?? 0)\n"
                .utf8)
    }

    func twoPhase(_ action: TwoPhaseAction, gid: String, _ transaction: TransactionLine, into out: inout [UInt8]) {
        let words =
            switch action {
            case .prepare: "PREPARE TRANSACTION"
            case .commitPrepared: "COMMIT PREPARED"
            case .rollbackPrepared: "ROLLBACK PREPARED"
            }
        out += Array(
            "\(TextChangeLines.prefix(transaction.time, transaction.lsn, transaction.xid)) \(words) \(TextChangeLines.quoted(gid)) next \(transaction.endLSN ?? 0)\n"
                .utf8)
    }

    func change(_ change: PGChange, at position: ChangePosition, into out: inout [UInt8]) throws -> [Int] {
        if let commit = position.commit {
            out.append(contentsOf: "\(TextChangeLines.prefix(commit.time, commit.lsn, position.xid)) ".utf8)
        }
        let point = out.count
        TextChangeLines.appendLine(for: change, to: &out)
        return position.commit == nil ? [point] : []
    }

    func insertion(for transaction: PGTransaction) -> [UInt8] {
        Array("\(TextChangeLines.prefix(transaction.commitTime, transaction.commitLSN, transaction.xid)) ".utf8)
    }

    func message(_ message: PGLogicalDecodingMessage, into out: inout [UInt8]) -> Bool {
        out += Array("\(TextChangeLines.clock(nil)) \(message.lsn) \(TextChangeLines.message(message))\n".utf8)
        return true
    }

    func schemaChange(_ change: PGSchemaChange, into out: inout [UInt8]) throws {
        out += Array((TextChangeLines.line(for: change) + "\n").utf8)
    }

    func snapshotRow(_ row: PGRow, at index: Int, of batch: PGSnapshotBatch, into out: inout [UInt8]) throws {
        out += Array(
            "\(TextChangeLines.clock(nil)) SNAPSHOT \(batch.table.qualifiedName) \(TextChangeLines.fields(row))\n".utf8)
    }
}

/// A transaction as readable lines, each starting with the commit time (UTC, to the millisecond),
/// the commit LSN and the xid:
///
/// ```
/// 14:03:07.512 0/1A2B3C4 xid 751 BEGIN
/// 14:03:07.512 0/1A2B3C4 xid 751 INSERT public.orders id=1 qty=2 price=9.99 note='first order'
/// 14:03:07.512 0/1A2B3C4 xid 751 COMMIT next 0/1A2B400
/// ```
struct TextChangeLines {
    let lines: [String]

    init(_ transaction: PGTransaction) {
        let prefix = Self.prefix(transaction.commitTime, transaction.commitLSN, transaction.xid)
        lines =
            ["\(prefix) BEGIN"] + transaction.changes.map { "\(prefix) \(Self.line(for: $0))" }
            + ["\(prefix) COMMIT next \(transaction.endLSN)"]
    }

    /// What starts each line of a transaction: commit time, commit LSN, xid.
    static func prefix(_ time: PostgresTimestamp?, _ commitLSN: LSN, _ xid: UInt32) -> String {
        "\(clock(time)) \(commitLSN) xid \(xid)"
    }

    /// One change, after the prefix: its description.
    static func line(for change: PGChange) -> String { change.description }

    /// One change and a newline appended as bytes, without building the line as a string first
    /// (a large value is copied once, into `out`).
    static func appendLine(for change: PGChange, to out: inout [UInt8]) {
        change.appendDescription(to: &out)
        out.append(0x0A)
    }

    static func message(_ message: PGLogicalDecodingMessage) -> String { message.description }

    /// `HH:MM:SS.mmm` of a commit time in UTC; spaces when there is none.
    static func clock(_ time: PostgresTimestamp?) -> String {
        guard let time, time != .infinity, time != .negativeInfinity else { return "            " }
        let microsecondsPerDay: Int64 = 86_400_000_000
        var ofDay = time.rawValue % microsecondsPerDay
        if ofDay < 0 { ofDay += microsecondsPerDay }
        let milliseconds = ofDay / 1000
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = milliseconds % 1000
        return "\(two(milliseconds / 3_600_000)):\(two(milliseconds / 60_000 % 60)):\(two(milliseconds / 1000 % 60))."
            + (millis < 10 ? "00" : millis < 100 ? "0" : "") + "\(millis)"
    }

    /// `name=value …`; unchanged TOASTed values show as `name=(unchanged)`.
    static func fields(_ row: PGRow) -> String { row.description }

    /// The text as it is when it reads unambiguously, else quoted (see `PGRow`'s description).
    static func quoted(_ text: String) -> String { PGRow.quoted(text) }

    /// The text line of a schema change (`--schema-changes`).
    static func line(for change: PGSchemaChange) -> String {
        var parts: [String] = []
        if !change.added.isEmpty { parts.append("added " + change.added.joined(separator: ", ")) }
        if !change.dropped.isEmpty { parts.append("dropped " + change.dropped.joined(separator: ", ")) }
        if !change.retyped.isEmpty { parts.append("retyped " + change.retyped.joined(separator: ", ")) }
        if !change.renamed.isEmpty {
            parts.append("renamed " + change.renamed.map { "\($0.from) to \($0.to)" }.joined(separator: ", "))
        }
        if parts.isEmpty { parts.append("changed") }
        let columns = change.new.columns.map { "\($0.name) \(PGTypeOID($0.typeOID))" }.joined(separator: ", ")
        return
            "\(TextChangeLines.clock(nil)) SCHEMA \(change.new.qualifiedName): \(parts.joined(separator: "; ")) (\(columns))"
    }
}
