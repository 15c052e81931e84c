import PGOutput
import PGReplication

/// `--format notifications`: one JSON line per notification sent with
/// `PGNotifications.notify(channel:payload:on:)` or `pgrepl_notify(channel, payload)` on the
/// `--channel`s (every channel when none is given), and nothing else:
/// `{"channel":"jobs","payload":"…","lsn":"0/16B3748","xid":741,"commit_lsn":"0/16B37A0"}`. The
/// `lsn` is the notification's id (delivery is at least once); lines come in commit order.
final class NotificationEncoder: ChangeLineEncoder {
    let channels: Set<String>

    init(channels: Set<String>) { self.channels = channels }

    func change(_ change: PGChange, at position: ChangePosition, into out: inout [UInt8]) throws -> [Int] {
        guard case .message(let message) = change, let channel = PGNotifications.channel(of: message, among: channels)
        else { return [] }
        JSONWriter.append("{\"channel\":", to: &out)
        JSONWriter.appendString(channel, to: &out)
        JSONWriter.append(",\"payload\":", to: &out)
        JSONWriter.appendString(message.content, to: &out)
        JSONWriter.append(",\"lsn\":", to: &out)
        JSONWriter.appendString(message.lsn.description, to: &out)
        JSONWriter.append(",\"xid\":", to: &out)
        JSONWriter.appendNumber(position.xid, to: &out)
        let point = out.count
        if let commit = position.commit { out += insertion(commitLSN: commit.lsn) }
        JSONWriter.append("}\n", to: &out)
        return position.commit == nil ? [point] : []
    }

    func insertion(for transaction: PGTransaction) -> [UInt8] { insertion(commitLSN: transaction.commitLSN) }

    private func insertion(commitLSN: LSN) -> [UInt8] {
        var out: [UInt8] = []
        JSONWriter.append(",\"commit_lsn\":", to: &out)
        JSONWriter.appendString(commitLSN.description, to: &out)
        return out
    }

    func message(_ message: PGLogicalDecodingMessage, into out: inout [UInt8]) -> Bool { false }

    func snapshotRow(_ row: PGRow, at index: Int, of batch: PGSnapshotBatch, into out: inout [UInt8]) throws {}
}
