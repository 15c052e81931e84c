import PGOutput
import PGReplication

/// `--format raw`: each pgoutput message as it came, `LSN hex` per line (the message's WAL
/// position, then its bytes in lower-case hex), on the same streaming path as the other formats:
/// its lines are written, synced and acknowledged where the decoded events say a transaction
/// (or a non-transactional message) is complete.
final class RawEncoder: ChangeLineEncoder {
    var writesRawMessages: Bool { true }

    func rawMessage(_ payload: UnsafeRawBufferPointer, lsn: LSN, into out: inout [UInt8]) {
        out += Array(lsn.description.utf8)
        out.append(0x20)
        appendLowercaseHex(payload, to: &out)
        out.append(0x0A)
    }

    /// The events carry nothing the messages' lines did not.
    func change(_ change: PGChange, at position: ChangePosition, into out: inout [UInt8]) throws -> [Int] { [] }
    func insertion(for transaction: PGTransaction) -> [UInt8] { [] }
    func message(_ message: PGLogicalDecodingMessage, into out: inout [UInt8]) -> Bool { true }
    func snapshotRow(_ row: PGRow, at index: Int, of batch: PGSnapshotBatch, into out: inout [UInt8]) throws {}
}
