import PGOutput
import Testing

/// Golden captures from PostgreSQL 15 (see `Fixtures/README.md`).
@Suite struct FixtureTests {
    @Test(arguments: Fixture.allCases)
    func decodesAndReencodesEveryMessage(_ fixture: Fixture) throws {
        let raw = fixture.messages
        #expect(!raw.isEmpty, "fixture \(fixture.rawValue) did not load")
        var decoder = fixture.decoder
        let encoder = PGOutputEncoder()
        var mismatches: [Int] = []
        for (index, bytes) in raw.enumerated() where encoder.encode(try decoder.decode(bytes)) != bytes {
            mismatches.append(index)
        }
        #expect(mismatches.isEmpty, "messages re-encoded differently: \(mismatches.prefix(10))")
        #expect(!decoder.inStream)
    }

    static func letters(_ messages: [PGOutputMessage]) -> String {
        String(messages.map { Character(Unicode.Scalar($0.kind.rawValue)) })
    }

    @Test func protocol1TextStructure() throws {
        let messages = try Fixture.proto1Text.decodedMessages()
        #expect(
            Self.letters(messages)
                == "BYRIICBUCBUCBDCBRIICBUCBDCBRICBRICBUCBUCBDCBRICBUCBRICBUCBRIICBRIICBRRTCBRTCBRIMCMBOIC")

        var decoder = Fixture.proto1Text.decoder
        var updates: [String: [PGOutputMessage.Update]] = [:]
        var deletes: [String: [PGOutputMessage.OldTuple.Kind]] = [:]
        var inserts: [String: [TupleData]] = [:]
        var truncates: [PGOutputMessage.Truncate] = []
        var logical: [PGOutputMessage.LogicalMessage] = []
        var origins: [PGOutputMessage.Origin] = []
        var openBegin: PGOutputMessage.Begin?
        for bytes in Fixture.proto1Text.messages {
            let message = try decoder.decode(bytes)
            let table = decoder.relation(for: message)?.name ?? "?"
            switch message {
            case .insert(let m): inserts[table, default: []].append(m.newTuple)
            case .update(let m): updates[table, default: []].append(m)
            case .delete(let m): deletes[table, default: []].append(m.oldTuple.kind)
            case .truncate(let m): truncates.append(m)
            case .message(let m): logical.append(m)
            case .origin(let m): origins.append(m)
            case .begin(let m): openBegin = m
            case .commit(let m):
                #expect(m.commitLSN == openBegin?.finalLSN)
                #expect(m.commitTime == openBegin?.commitTime)
                #expect(m.endLSN > m.commitLSN)
                openBegin = nil
            default: break
            }
        }
        #expect(inserts["?"] == nil, "every change has a cached relation")

        let relations = Dictionary(uniqueKeysWithValues: decoder.relations.values.map { ($0.name, $0) })
        #expect(relations["ident_default"]?.replicaIdentity == .default)
        #expect(relations["ident_full"]?.replicaIdentity == .full)
        #expect(relations["ident_nothing"]?.replicaIdentity == .nothing)
        #expect(relations["ident_index"]?.replicaIdentity == .index)
        #expect(relations["ident_index"]?.columns.map(\.isKey) == [false, true, false])
        #expect(
            relations["ident_default"]?.columns.map(\.name) == ["id", "name", "feeling", "score", "tags", "data", "at"])
        let mood = decoder.types.values.first
        #expect(mood?.name == "mood" && mood?.namespace == "public")
        #expect(relations["ident_default"]?.columns[2].typeOID == mood?.oid)

        #expect(inserts["ident_default"]?.first?.columns.first == .text("1"))
        #expect(inserts["ident_default"]?.last?.columns == [.text("2"), .null, .null, .null, .null, .null, .null])
        #expect(updates["ident_default"]?.map(\.oldTuple?.kind) == [nil, .key])
        #expect(updates["ident_full"]?.map(\.oldTuple?.kind) == [.old])
        #expect(updates["ident_index"]?.map(\.oldTuple?.kind) == [nil, .key])
        #expect(updates["ident_index"]?.last?.oldTuple?.tuple.columns == [.null, .text("c1"), .null])
        #expect(updates["ident_nothing"] == nil)
        #expect(deletes == ["ident_default": [.key], "ident_full": [.old], "ident_index": [.key]])

        // Unchanged TOAST: 'u' in the new row under both identities; only FULL sends the old value.
        let big = inserts["toast_default"]?.first?.columns[1]
        guard case .text(let bigBytes)? = big else {
            Issue.record("no toast insert")
            return
        }
        #expect(bigBytes.count == 64_000)
        let toastDefault = try #require(updates["toast_default"]?.first)
        #expect(toastDefault.oldTuple == nil)
        #expect(toastDefault.newTuple.columns == [.text("1"), .unchangedToast, .text("1")])
        #expect(toastDefault.newTupleFillingUnchangedToast == toastDefault.newTuple)
        let toastFull = try #require(updates["toast_full"]?.first)
        #expect(toastFull.oldTuple?.kind == .old)
        #expect(toastFull.newTuple.columns[1] == .unchangedToast)
        #expect(toastFull.newTupleFillingUnchangedToast.columns == [.text("1"), .text(bigBytes), .text("1")])

        #expect(truncates.map(\.options) == [.cascade, .restartIdentity])
        #expect(truncates.map(\.relationOIDs.count) == [2, 1])
        #expect(
            Set(truncates[0].relationOIDs)
                == Set([relations["parent"]?.oid, relations["child"]?.oid].compactMap { $0 }))

        #expect(logical.map(\.isTransactional) == [true, false])
        #expect(logical.map(\.prefix) == ["test.tx", "test.nontx"])
        #expect(logical.map(\.content) == [Array("transactional payload".utf8), [0, 0xFF, 0]])
        #expect(origins == [.init(commitLSN: 0x1234_5678, name: "upstream")])
    }

    @Test func protocol1BinaryStructure() throws {
        let text = try Fixture.proto1Text.decodedMessages()
        let binary = try Fixture.proto1Binary.decodedMessages()
        #expect(Self.letters(binary) == Self.letters(text))
        let firstInsert = binary.lazy.compactMap { if case .insert(let m) = $0 { m } else { nil } }.first
        #expect(firstInsert?.newTuple.columns.first == .binary([0, 0, 0, 1]))
        #expect(firstInsert?.newTuple.columns[1] == .binary(Array("one".utf8)))
    }

    @Test func protocol2StreamingStructure() throws {
        var decoder = Fixture.proto2Streaming.decoder
        var inBlock = false
        var xidMismatches = 0
        var startsByXID: [UInt32: [Bool]] = [:]
        var streamedXIDs: [UInt32] = []
        var commits: [PGOutputMessage.StreamCommit] = []
        var aborts: [PGOutputMessage.StreamAbort] = []
        var counts: [PGOutputMessage.MessageKind: Int] = [:]
        var streamedMessage: PGOutputMessage.LogicalMessage?
        for bytes in Fixture.proto2Streaming.messages {
            let message = try decoder.decode(bytes)
            counts[message.kind, default: 0] += 1
            switch message {
            case .streamStart(let m):
                inBlock = true
                startsByXID[m.xid, default: []].append(m.isFirstSegment)
                streamedXIDs.append(m.xid)
            case .streamStop: inBlock = false
            case .streamCommit(let m): commits.append(m)
            case .streamAbort(let m): aborts.append(m)
            case .relation, .type, .insert, .update, .delete, .truncate, .message:
                if (message.streamXID != nil) != inBlock { xidMismatches += 1 }
                if inBlock, case .message(let m) = message { streamedMessage = m }
            default:
                if inBlock { xidMismatches += 1 }  // nothing else belongs inside a block
            }
        }
        #expect(xidMismatches == 0)
        #expect(startsByXID.count == 3)
        #expect(startsByXID.values.allSatisfy { $0.first == true && $0.dropFirst().allSatisfy { !$0 } })
        #expect(counts[.begin] == 2 && counts[.commit] == 2)
        #expect(counts[.streamStart] == counts[.streamStop])
        #expect(counts[.update] == 3 && counts[.delete] == 1 && counts[.truncate] == 1)
        #expect(commits.count == 2)
        #expect(Set(commits.map(\.xid)).isSubset(of: Set(streamedXIDs)))
        #expect(aborts.count == 2)
        #expect(aborts.map(\.abortsWholeTransaction) == [false, true])
        #expect(aborts.allSatisfy { $0.abortLSN == nil && $0.abortTime == nil })
        #expect(streamedMessage?.prefix == "stream.tx" && streamedMessage?.xid != nil)
    }

    @Test func protocol3TwoPhaseStructure() throws {
        let messages = try Fixture.proto3TwoPhase.decodedMessages()
        var gids: [PGOutputMessage.MessageKind: [String]] = [:]
        var beginXIDs: [String: UInt32] = [:]
        for message in messages {
            switch message {
            case .beginPrepare(let m):
                gids[.beginPrepare, default: []].append(m.gid)
                beginXIDs[m.gid] = m.xid
            case .prepare(let m):
                gids[.prepare, default: []].append(m.gid)
                #expect(beginXIDs[m.gid] == m.xid)
            case .streamPrepare(let m): gids[.streamPrepare, default: []].append(m.gid)
            case .commitPrepared(let m): gids[.commitPrepared, default: []].append(m.gid)
            case .rollbackPrepared(let m):
                gids[.rollbackPrepared, default: []].append(m.gid)
                #expect(m.rollbackTime >= m.prepareTime)
            default: break
            }
        }
        #expect(gids[.beginPrepare] == ["tx-commit", "tx-rollback"])
        #expect(gids[.prepare] == ["tx-commit", "tx-rollback"])
        #expect(gids[.commitPrepared] == ["tx-commit", "tx-streamed"])
        #expect(gids[.rollbackPrepared] == ["tx-rollback"])
        #expect(gids[.streamPrepare] == ["tx-streamed"])
        #expect(Self.letters(messages).hasPrefix("bRIIPKbUPrSRI"))
    }
}
