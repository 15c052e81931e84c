import PGOutput

// One short line per value, as `pgrepl stream --format text` writes it (`print(change)`); the
// `debugDescription`s (`debugPrint`, `String(reflecting:)`) keep every field.

extension PGTable: CustomStringConvertible, CustomDebugStringConvertible {
    /// `schema.table`.
    public var description: String { qualifiedName }

    public var debugDescription: String {
        "PGTable(\(qualifiedName), oid \(oid), replica identity \(replicaIdentity), columns: "
            + columns.map { "\($0.name) \(PGTypeOID($0.typeOID))\($0.isKey ? " key" : "")" }.joined(separator: ", ")
            + ")"
    }
}

extension PGChange: CustomStringConvertible, CustomDebugStringConvertible {
    /// `INSERT public.items id=1 name=apple`, `UPDATE … (old key: id=1)`, `DELETE public.items
    /// id=1`, `TRUNCATE public.items`, `MESSAGE prefix content`.
    public var description: String {
        var out: [UInt8] = []
        appendDescription(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public var debugDescription: String {
        switch self {
        case .insert(let table, let new): "insert(\(table), new: \(new.debugDescription))"
        case .update(let table, let old, let oldIsKey, let new):
            "update(\(table), old\(oldIsKey ? " key" : ""): \(old?.debugDescription ?? "nil"), new: \(new.debugDescription))"
        case .delete(let table, let old, let oldIsKey):
            "delete(\(table), old\(oldIsKey ? " key" : ""): \(old.debugDescription))"
        case .truncate(let tables, let cascade, let restartIdentity):
            "truncate(\(tables.map(\.description).joined(separator: ", ")), cascade: \(cascade), restartIdentity: \(restartIdentity))"
        case .message(let message): "message(\(message.debugDescription))"
        }
    }

    /// Appends ``description`` as UTF-8: a large value is copied once, into `out`.
    package func appendDescription(to out: inout [UInt8]) {
        func append(_ text: String) { out.append(contentsOf: text.utf8) }
        switch self {
        case .insert(let table, let new):
            append("INSERT \(table.qualifiedName) ")
            new.appendFields(to: &out)
        case .update(let table, let old, let oldIsKey, let new):
            append("UPDATE \(table.qualifiedName) ")
            new.appendFields(to: &out)
            if let old {
                append(" (old\(oldIsKey ? " key" : ""): ")
                old.appendFields(keysOnly: oldIsKey, to: &out)
                append(")")
            }
        case .delete(let table, let old, let oldIsKey):
            append("DELETE \(table.qualifiedName) ")
            old.appendFields(keysOnly: oldIsKey, to: &out)
        case .truncate(let tables, let cascade, let restartIdentity):
            append(
                "TRUNCATE \(tables.map(\.qualifiedName).joined(separator: ", "))"
                    + (restartIdentity ? " RESTART IDENTITY" : "") + (cascade ? " CASCADE" : ""))
        case .message(let message):
            append(message.description)
        }
    }
}

extension PGLogicalDecodingMessage: CustomStringConvertible, CustomDebugStringConvertible {
    /// `MESSAGE prefix content`, the content as text when it is UTF-8, else `\x` and hex;
    /// `(non-transactional)` after it for such a message.
    public var description: String {
        let text = String(validating: content, as: UTF8.self).map(PGRow.quoted) ?? "\\x" + content.lowercaseHex
        return "MESSAGE \(PGRow.quoted(prefix)) \(text)" + (isTransactional ? "" : " (non-transactional)")
    }

    public var debugDescription: String {
        "PGLogicalDecodingMessage(\(isTransactional ? "transactional" : "non-transactional"), lsn \(lsn), prefix: "
            + "\(prefix.debugDescription), \(content.count) bytes: \\x\(content.lowercaseHex))"
    }
}

extension PGTransaction: CustomStringConvertible {
    /// `COMMIT xid 745 0/1A2B3C4, 3 changes` (`PREPARE 'gid' …` for a prepared one).
    public var description: String {
        let what =
            switch kind {
            case .commit: "COMMIT"
            case .prepare(let gid): "PREPARE \(PGRow.quoted(gid))"
            }
        let count = changes.count
        return "\(what) xid \(xid) \(commitLSN), \(count) change\(count == 1 ? "" : "s")"
            + (isStreamed ? " (streamed)" : "") + (origin.map { " from origin \(PGRow.quoted($0))" } ?? "")
    }
}

extension PGChangeEvent: CustomStringConvertible {
    /// One line per event: the transaction's, `BEGIN xid 745`, a batch's count, `ABORT xid 745`,
    /// the message's, `SNAPSHOT public.items: 1000 rows`, `SCHEMA public.items`, `STALLED …`,
    /// `COMMIT PREPARED 'gid' xid 745 0/1A2B3C4`, `ROLLBACK PREPARED 'gid' xid 745`.
    public var description: String {
        switch self {
        case .transaction(let transaction), .commit(let transaction): transaction.description
        case .begin(let begin): "BEGIN xid \(begin.xid)\(begin.isStreamed ? " (streamed)" : "")"
        case .changes(let batch):
            "xid \(batch.xid)\(batch.subtransactionXID == batch.xid ? "" : "/\(batch.subtransactionXID)"): "
                + "\(batch.changes.count) change\(batch.changes.count == 1 ? "" : "s")"
        case .abort(let abort):
            "ABORT xid \(abort.xid)\(abort.abortsWholeTransaction ? "" : "/\(abort.subtransactionXID)")"
                + (abort.reason == .interrupted ? " (interrupted)" : "")
        case .message(let message): message.description
        case .snapshot(let batch):
            "\(batch.backfill == nil ? "SNAPSHOT" : "BACKFILL") \(batch.table): \(batch.rows.count) "
                + "row\(batch.rows.count == 1 ? "" : "s")\(batch.isLast ? " (last)" : "")"
        case .schemaChange(let change): "SCHEMA \(change.new)"
        case .stalled(let stall): "STALLED for \(Int(stall.overdue)) s"
        case .commitPrepared(let commit):
            "COMMIT PREPARED \(PGRow.quoted(commit.gid)) xid \(commit.xid) \(commit.commitLSN)"
        case .rollbackPrepared(let rollback):
            "ROLLBACK PREPARED \(PGRow.quoted(rollback.gid)) xid \(rollback.xid)"
        }
    }
}
