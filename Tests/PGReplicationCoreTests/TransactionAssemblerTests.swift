import Foundation
import PGOutput
import Testing

@testable import PGReplicationCore

@Suite struct TransactionAssemblerTests {
    let encoder = PGOutputEncoder()
    let relation = PGOutputMessage.Relation(
        xid: nil, oid: 16384, namespace: "public", name: "items", replicaIdentity: .default,
        columns: [
            RelationColumn(flags: 1, name: "id", typeOID: 23, typeModifier: -1),
            RelationColumn(flags: 0, name: "v", typeOID: 25, typeModifier: -1),
        ])

    func insert(_ id: Int, xid: UInt32? = nil) -> PGOutputMessage {
        .insert(
            .init(
                xid: xid, relationOID: 16384,
                newTuple: TupleData(columns: [.text(Array("\(id)".utf8)), .text(Array("v\(id)".utf8))])))
    }

    func run(
        _ messages: [PGOutputMessage], delivery: PGChangeDelivery = .assembled, version: Int = 2,
        memoryLimit: Int = 64 << 20
    )
        throws -> [PGChangeEvent]
    {
        var assembler = TransactionAssembler(
            decoder: PGOutputDecoder(protocolVersion: version, streaming: .on), delivery: delivery)
        assembler.memoryLimit = memoryLimit
        var events: [PGChangeEvent] = []
        for message in messages {
            let bytes = encoder.encode(message)
            try bytes.withUnsafeBytes { try assembler.feed($0) { events.append($0) } }
        }
        return events
    }

    func ids(_ changes: [PGChange]) throws -> [Int] {
        try changes.map { change in
            guard case .insert(_, let new) = change else { return -1 }
            return try new["id", as: Int.self]
        }
    }

    @Test func assemblesAPlainTransaction() throws {
        let events = try run([
            .begin(.init(finalLSN: 100, commitTime: .init(rawValue: 1), xid: 7)), .relation(relation), insert(1),
            insert(2),
            .commit(.init(commitLSN: 100, endLSN: 120, commitTime: .init(rawValue: 1))),
        ])
        #expect(events.count == 1)
        guard case .transaction(let transaction) = events.first else {
            Issue.record("no transaction")
            return
        }
        #expect(transaction.xid == 7)
        #expect(transaction.endLSN == 120)
        #expect(try ids(Array(transaction.changes)) == [1, 2])
        #expect(transaction.changes.first?.table?.keyColumns == ["id"])
        #expect(events.first?.acknowledgeLSN == 120)
    }

    /// A table described again with other columns in the middle of a transaction: in chunked
    /// delivery the changes of the old shape come out before the schema change.
    @Test func aSchemaChangeFollowsTheBatchOfTheOldShape() throws {
        var widened = relation
        widened.columns.append(RelationColumn(flags: 0, name: "n", typeOID: 23, typeModifier: -1))
        let events = try run(
            [
                .begin(.init(finalLSN: 100, commitTime: .init(rawValue: 1), xid: 7)), .relation(relation), insert(1),
                .relation(widened),
                .commit(.init(commitLSN: 100, endLSN: 120, commitTime: .init(rawValue: 1))),
            ], delivery: .chunked(batchSize: 10))
        let kinds = events.map { event -> String in
            switch event {
            case .begin: "begin"
            case .changes: "changes"
            case .schemaChange(let change): "schema+\(change.added)"
            case .commit: "commit"
            default: "other"
            }
        }
        #expect(kinds == ["begin", "changes", "schema+[\"n\"]", "commit"])
    }

    @Test func streamedTransactionDropsAbortedSubtransactions() throws {
        let events = try run([
            .streamStart(.init(xid: 50, isFirstSegment: true)),
            .relation(
                PGOutputMessage.Relation(
                    xid: 50, oid: relation.oid, namespace: relation.namespace, name: relation.name,
                    replicaIdentity: relation.replicaIdentity, columns: relation.columns)),
            insert(1, xid: 50), insert(2, xid: 51), .streamStop(.init()),
            .streamStart(.init(xid: 50, isFirstSegment: false)), insert(3, xid: 52), insert(4, xid: 50),
            .streamStop(.init()),
            .streamAbort(.init(xid: 50, subtransactionXID: 51)),
            .streamStart(.init(xid: 60, isFirstSegment: true)), insert(9, xid: 60), .streamStop(.init()),
            .streamAbort(.init(xid: 60, subtransactionXID: 60)),
            .streamCommit(.init(xid: 50, commitLSN: 200, endLSN: 220, commitTime: .init(rawValue: 2))),
        ])
        #expect(events.count == 1)
        guard case .transaction(let transaction) = events.first else {
            Issue.record("no transaction")
            return
        }
        #expect(transaction.isStreamed)
        #expect(try ids(Array(transaction.changes)) == [1, 3, 4])
    }

    @Test func chunkedDeliveryBatchesAndReportsAborts() throws {
        let events = try run(
            [
                .begin(.init(finalLSN: 100, commitTime: .init(rawValue: 1), xid: 7)), .relation(relation),
                insert(1), insert(2), insert(3),
                .commit(.init(commitLSN: 100, endLSN: 120, commitTime: .init(rawValue: 1))),
                .streamStart(.init(xid: 50, isFirstSegment: true)), insert(4, xid: 50), insert(5, xid: 51),
                .streamStop(.init()), .streamAbort(.init(xid: 50, subtransactionXID: 51)),
                // PostgreSQL 18 sends Stream Abort for transactions it never streamed: no event.
                .streamAbort(.init(xid: 70, subtransactionXID: 70)),
                .streamCommit(.init(xid: 50, commitLSN: 200, endLSN: 220, commitTime: .init(rawValue: 2))),
            ], delivery: .chunked(batchSize: 2))
        let shape = events.map { event -> String in
            switch event {
            case .begin(let begin): return "begin \(begin.xid)"
            case .changes(let batch): return "changes \(batch.xid)/\(batch.subtransactionXID) \(batch.changes.count)"
            case .commit(let transaction): return "commit \(transaction.xid) \(transaction.endLSN.rawValue)"
            case .abort(let abort): return "abort \(abort.xid)/\(abort.subtransactionXID)"
            default: return "other"
            }
        }
        #expect(
            shape == [
                "begin 7", "changes 7/7 2", "changes 7/7 1", "commit 7 120",
                "begin 50", "changes 50/50 1", "changes 50/51 1", "abort 50/51", "commit 50 220",
            ])
    }

    @Test func protocolViolationsThrow() {
        #expect(throws: PGError.self) {
            _ = try run([.commit(.init(commitLSN: 1, endLSN: 2, commitTime: .init(rawValue: 0)))])
        }
        #expect(throws: PGError.self) {
            _ = try run([.begin(.init(finalLSN: 1, commitTime: .init(rawValue: 0), xid: 1)), insert(1)])
        }
    }

    /// Past its memory budget a transaction's changes go to a spill file; iterating the list
    /// reads them back, equal to what memory would have held, without the rolled-back
    /// subtransaction's, every time it is iterated.
    @Test(arguments: [0, 300]) func largeTransactionsSpillAndReadBack(limit: Int) throws {
        let streamed: [PGOutputMessage] =
            [
                .streamStart(.init(xid: 50, isFirstSegment: true)),
                .relation(
                    PGOutputMessage.Relation(
                        xid: 50, oid: relation.oid, namespace: relation.namespace, name: relation.name,
                        replicaIdentity: relation.replicaIdentity, columns: relation.columns)),
            ] + (1...200).map { insert($0, xid: $0 % 7 == 0 ? 51 : 50) }
            + [
                .delete(
                    .init(
                        xid: 50, relationOID: 16384,
                        oldTuple: .init(kind: .key, tuple: TupleData(columns: [.text(Array("3".utf8)), .null])))),
                .truncate(.init(xid: 50, options: [.cascade], relationOIDs: [16384])),
                .message(
                    .init(xid: 50, flags: 1, lsn: 77, prefix: "p", content: [1, 2, 0, 3])),
                .streamStop(.init()), .streamAbort(.init(xid: 50, subtransactionXID: 51)),
                .streamCommit(.init(xid: 50, commitLSN: 200, endLSN: 220, commitTime: .init(rawValue: 2))),
            ]
        let inMemory = try run(streamed)
        let spilled = try run(streamed, memoryLimit: limit)
        guard case .transaction(let expected) = inMemory.first, case .transaction(let transaction) = spilled.first
        else {
            Issue.record("no transaction")
            return
        }
        #expect(!expected.changes.isSpilled && transaction.changes.isSpilled)
        #expect(transaction.changes.count == 200 - 28 + 3)
        #expect(Array(transaction.changes) == Array(expected.changes))
        #expect(Array(transaction.changes) == Array(transaction.changes))
        // Equality never reads a spill file: compare the transaction with its changes read back.
        var read = transaction
        read.changes = PGChangeList(Array(transaction.changes))
        #expect(read == expected)
    }

    /// A transaction of `inserts` inserts, assembled with no memory budget: every change is in
    /// its spill file.
    func spilledTransaction(inserts: Int) throws -> PGTransaction {
        let messages: [PGOutputMessage] =
            [.begin(.init(finalLSN: 100, commitTime: .init(rawValue: 1), xid: 7)), .relation(relation)]
            + (1...inserts).map { insert($0) } + [
                .commit(.init(commitLSN: 100, endLSN: 120, commitTime: .init(rawValue: 1)))
            ]
        guard case .transaction(let transaction) = try run(messages, memoryLimit: 0).first else {
            throw PGError(.programming, "no transaction was assembled")
        }
        return transaction
    }

    /// A spill file that cannot be read back in full, or a spilled change that cannot be
    /// decoded, is an error: `forEachChange` throws it, and a `for` loop ends early and leaves it
    /// in `readFailure` (which ChangeStream checks before acknowledging). It never ends the
    /// process, and never ends the iteration as if the transaction were shorter.
    @Test func aSpillFileThatCannotBeReadBackIsAnError() throws {
        let transaction = try spilledTransaction(inserts: 50)
        #expect(transaction.changes.count == 50 && transaction.changes.readFailure == nil)
        #expect(Array(transaction.changes).count == 50)
        let fd = try #require(transaction.changes.spill?.file.fd)
        #expect(ftruncate(fd, 300) == 0)
        let read = Array(transaction.changes)
        #expect(read.count < 50)
        #expect(transaction.changes.readFailure?.message.contains("cannot read back the spill file") == true)
        var seen = 0
        #expect(throws: PGError.self) { try transaction.changes.forEachChange { _ in seen += 1 } }
        #expect(seen == read.count)
    }

    /// A spill file whose bytes were damaged (not only cut short) is an error when read back,
    /// never a trap, wherever the damage lies: every byte of a record is overwritten in turn.
    @Test func aDamagedSpillFileIsAnErrorNeverATrap() throws {
        let transaction = try spilledTransaction(inserts: 3)
        let fd = try #require(transaction.changes.spill?.file.fd)
        let size = Int(lseek(fd, 0, SEEK_END))
        #expect(size > 20)
        var failures = 0
        for offset in 0..<size {
            for value: UInt8 in [0x00, 0xFF, 0x7F] {
                var original: UInt8 = 0
                #expect(pread(fd, &original, 1, off_t(offset)) == 1)
                var damaged = value
                #expect(pwrite(fd, &damaged, 1, off_t(offset)) == 1)
                do {
                    try transaction.changes.forEachChange { _ in }
                } catch {
                    failures += 1
                }
                #expect(pwrite(fd, &original, 1, off_t(offset)) == 1)
            }
        }
        // Some damage is read as other valid values (a text column's letters); the rest is refused.
        #expect(failures > size / 2, "\(failures) of \(3 * size) damaged files refused")
        var count = 0
        try transaction.changes.forEachChange { _ in count += 1 }
        #expect(count == 3, "the repaired file reads back whole")
    }

    /// Equality, hashing and the description of a spilled list never read its file: with the
    /// file cut to nothing they still answer, and nothing recorded a read failure.
    @Test func comparingASpilledListNeverReadsItsFile() throws {
        let transaction = try spilledTransaction(inserts: 5)
        let fd = try #require(transaction.changes.spill?.file.fd)
        #expect(ftruncate(fd, 0) == 0)
        let copy = transaction.changes
        #expect(copy == transaction.changes)
        #expect(copy.hashValue == transaction.changes.hashValue)
        #expect(transaction.changes.description == "[] and 5 spilled changes")
        #expect(transaction.changes != PGChangeList([]))
        #expect(transaction.changes.readFailure == nil, "nothing was read")
    }

    /// A change that cannot be decoded is an error where it is assembled, whether the
    /// transaction is held in memory or spilled: never a shorter transaction later.
    @Test(arguments: [0, 64 << 20]) func aChangeThatCannotBeDecodedIsAnErrorWhenSpilledToo(limit: Int) throws {
        let bad = PGOutputMessage.insert(
            .init(xid: nil, relationOID: 16384, newTuple: TupleData(columns: [.text(Array("x".utf8)), .null])))
        let messages: [PGOutputMessage] =
            [.begin(.init(finalLSN: 100, commitTime: .init(rawValue: 1), xid: 7)), .relation(relation)]
            + [insert(1), bad, insert(3)] + [
                .commit(.init(commitLSN: 100, endLSN: 120, commitTime: .init(rawValue: 1)))
            ]
        #expect(throws: PGValueDecodingError.self) { _ = try run(messages, memoryLimit: limit) }
    }

    // MARK: - Two-phase transactions (protocol 3)

    let prepareTime = PostgresTimestamp(rawValue: 5)

    func prepared(_ ids: [Int], xid: UInt32 = 9, gid: String = "g1") -> [PGOutputMessage] {
        [
            .beginPrepare(.init(prepareLSN: 300, endLSN: 320, prepareTime: prepareTime, xid: xid, gid: gid)),
            .relation(relation),
        ]
            + ids.map { insert($0) }
            + [.prepare(.init(prepareLSN: 300, endLSN: 320, prepareTime: prepareTime, xid: xid, gid: gid))]
    }

    @Test func aPreparedTransactionIsDeliveredAsAPrepareAndItsCommitAndRollbackFollow() throws {
        let events = try run(
            prepared([1, 2])
                + [
                    .commitPrepared(
                        .init(commitLSN: 400, endLSN: 420, commitTime: .init(rawValue: 6), xid: 9, gid: "g1")),
                    .rollbackPrepared(
                        .init(
                            prepareEndLSN: 320, rollbackEndLSN: 520, prepareTime: prepareTime,
                            rollbackTime: .init(rawValue: 7), xid: 10, gid: "g2")),
                ], version: 3)
        #expect(events.count == 3)
        guard case .transaction(let transaction) = events.first else {
            Issue.record("no prepared transaction: \(events)")
            return
        }
        #expect(transaction.kind == .prepare(gid: "g1"))
        #expect(transaction.xid == 9)
        #expect(transaction.commitLSN == 300 && transaction.endLSN == 320)
        #expect(try ids(Array(transaction.changes)) == [1, 2])
        #expect(events.first?.acknowledgeLSN == 320)
        #expect(
            events[1]
                == .commitPrepared(
                    .init(gid: "g1", xid: 9, commitLSN: 400, endLSN: 420, commitTime: .init(rawValue: 6))))
        #expect(events[1].acknowledgeLSN == 420)
        #expect(
            events[2] == .rollbackPrepared(.init(gid: "g2", xid: 10, endLSN: 520, rollbackTime: .init(rawValue: 7))))
        #expect(events[2].acknowledgeLSN == 520)
    }

    @Test func chunkedDeliveryOfAPreparedTransactionEndsInAPrepareCommit() throws {
        let events = try run(prepared([1, 2, 3]), delivery: .chunked(batchSize: 2), version: 3)
        let shape = try events.map { event -> String in
            switch event {
            case .begin(let begin): "begin \(begin.xid)"
            case .changes(let batch): "changes \(try ids(batch.changes))"
            case .commit(let transaction): "commit \(transaction.kind)"
            default: "\(event)"
            }
        }
        #expect(shape == ["begin 9", "changes [1, 2]", "changes [3]", "commit prepare(gid: \"g1\")"])
        #expect(events.last?.acknowledgeLSN == 320)
    }

    @Test func aStreamedPreparedTransactionDropsItsAbortedSubtransaction() throws {
        let events = try run(
            [
                .relation(relation),
                .streamStart(.init(xid: 50, isFirstSegment: true)), insert(1, xid: 50), insert(2, xid: 51),
                .streamStop(.init()),
                .streamAbort(.init(xid: 50, subtransactionXID: 51)),
                .streamStart(.init(xid: 50, isFirstSegment: false)), insert(3, xid: 50), .streamStop(.init()),
                .streamPrepare(.init(prepareLSN: 300, endLSN: 320, prepareTime: prepareTime, xid: 50, gid: "s1")),
            ], version: 3)
        guard events.count == 1, case .transaction(let transaction) = events[0] else {
            Issue.record("expected one transaction: \(events)")
            return
        }
        #expect(transaction.kind == .prepare(gid: "s1"))
        #expect(transaction.isStreamed)
        #expect(try ids(Array(transaction.changes)) == [1, 3])
    }

    @Test func aPrepareWithoutItsBeginIsAProtocolViolation() throws {
        #expect(throws: PGError.self) {
            try run(
                [.prepare(.init(prepareLSN: 300, endLSN: 320, prepareTime: prepareTime, xid: 9, gid: "g"))],
                version: 3)
        }
        #expect(throws: PGError.self) {
            try run(
                [.streamPrepare(.init(prepareLSN: 300, endLSN: 320, prepareTime: prepareTime, xid: 9, gid: "g"))],
                version: 3)
        }
    }
}
