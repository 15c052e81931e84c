import PGOutput
import Testing

@testable import PGReplicationCore

/// `print(change)` gives one short line, as `pgrepl stream --format text` writes it;
/// `debugPrint` keeps the detail.
@Suite struct DescriptionTests {
    let table = PGTable(
        oid: 16384, schema: "public", name: "items", replicaIdentity: .default,
        columns: [
            RelationColumn(flags: 1, name: "id", typeOID: 23, typeModifier: -1),
            RelationColumn(flags: 0, name: "name", typeOID: 25, typeModifier: -1),
        ])

    func row(_ id: String, _ name: String?) throws -> PGRow {
        try PGRow(
            columns: table.columns,
            tuple: TupleData(columns: [.text(Array(id.utf8)), name.map { .text(Array($0.utf8)) } ?? .null]))
    }

    @Test func changesAndEventsPrintOneShortLine() throws {
        let insert = PGChange.insert(table: table, new: try row("1", "green apple"))
        #expect("\(insert)" == "INSERT public.items id=1 name='green apple'")
        let update = PGChange.update(table: table, old: try row("1", nil), oldIsKey: true, new: try row("2", "pear"))
        #expect("\(update)" == "UPDATE public.items id=2 name=pear (old key: id=1)")
        #expect(
            "\(PGChange.delete(table: table, old: try row("2", nil), oldIsKey: true))" == "DELETE public.items id=2")
        let message = PGLogicalDecodingMessage(
            isTransactional: false, lsn: 7, prefix: "app", content: Array("hi\n".utf8))
        #expect("\(PGChange.message(message))" == "MESSAGE app 'hi\\n' (non-transactional)")
        let transaction = PGTransaction(
            kind: .commit, xid: 745, commitLSN: LSN(0x1A2B3C4), endLSN: LSN(0x1A2B3F0),
            commitTime: PostgresTimestamp(rawValue: 0), origin: nil, isStreamed: false, changes: [insert, update])
        #expect("\(transaction)" == "COMMIT xid 745 0/1A2B3C4, 2 changes")
        #expect("\(PGChangeEvent.transaction(transaction))" == "\(transaction)")
        let batch = PGSnapshotBatch(table: table, rows: [try row("1", "a")], isLast: true)
        #expect("\(PGChangeEvent.snapshot(batch))" == "SNAPSHOT public.items: 1 row (last)")
        // Every description is one line, whatever the values hold.
        let hostile = PGChange.insert(table: table, new: try row("3", "a\nb\u{1B}[2J\u{2028}c"))
        #expect(!"\(hostile)".contains("\n") && !"\(hostile)".contains("\u{1B}"), "\(hostile)")
    }

    @Test func debugDescriptionsKeepTheDetail() throws {
        let insert = PGChange.insert(table: table, new: try row("1", "apple"))
        let detail = String(reflecting: insert)
        #expect(detail.contains("id int4 key"), "\(detail)")
        #expect(detail.contains("name text"), "\(detail)")
        #expect(String(reflecting: table).contains("oid 16384"))
    }
}
