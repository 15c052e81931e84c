// libFuzzer harness for the CopyData frame parser and what ChangeStream does with the frames.
// Not a package target: Fuzz/run.sh compiles it against the PGReplicationCore and PGOutput modules.
//
// Input layout: byte 0 selects the configuration, the rest is a sequence of frames, each a
// 2-byte big-endian length and that many bytes (the last one may be short).
//   bits 0-1: pgoutput protocol version - 1 (1 to 4)
//   bits 2-3: streaming mode (0 off, 1 on, 2 or 3 parallel)
//   bit 4:    chunked delivery (batch size 1 + bits 5-7) instead of whole transactions
//   bits 5-7: with whole transactions, the memory limit: 0 for 64 MiB, k for (k - 1) * 512 bytes,
//             so that transactions spill to a file and are read back when the event is hashed
// Properties checked for each frame: parsing never traps; a parsed header holds exactly the
// big-endian fields of the input; a refused frame is a PGError of kind .operational; XLogData
// payloads fed to the assembler either produce events or throw, never trap.

import PGOutput
import PGReplicationCore

@_cdecl("LLVMFuzzerTestOneInput")
public func replicationFrameFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let config = input.first else { return 0 }
    let streaming: PGOutputDecoder.StreamingMode =
        switch (config >> 2) & 3 {
        case 0: .off
        case 1: .on
        default: .parallel
        }
    let delivery: PGChangeDelivery =
        config & 0x10 == 0 ? .assembled : .chunked(batchSize: Int(config >> 5) + 1)
    var assembler = TransactionAssembler(
        decoder: PGOutputDecoder(protocolVersion: Int(config & 3) + 1, streaming: streaming), delivery: delivery)
    if config & 0x10 == 0, config >> 5 != 0 { assembler.memoryLimit = (Int(config >> 5) - 1) * 512 }
    var offset = 1
    while offset < input.count {
        var length = Int(input[offset]) << 8
        if offset + 1 < input.count { length |= Int(input[offset + 1]) }
        let start = min(offset + 2, input.count)
        let end = min(start + length, input.count)
        checkFrame(UnsafeRawBufferPointer(rebasing: input[start..<end]), &assembler)
        offset = end
    }
    return 0
}

private func bigEndian(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
    (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[offset + $1]) }
}

private func checkFrame(_ frame: UnsafeRawBufferPointer, _ assembler: inout TransactionAssembler) {
    let parsed: ReplicationFrame
    do {
        parsed = try ReplicationFrame.parse(frame)
    } catch let error as PGError {
        let acceptable =
            frame.isEmpty || (frame[0] == UInt8(ascii: "w") && frame.count < XLogDataHeader.size)
            || (frame[0] == UInt8(ascii: "k") && frame.count < PrimaryKeepalive.size)
            || (frame[0] != UInt8(ascii: "w") && frame[0] != UInt8(ascii: "k"))
        if !acceptable || error.kind != .operational || error.description.isEmpty {
            fatalError("frame of \(frame.count) bytes refused wrongly: \(error.debugDescription)")
        }
        return
    } catch {
        fatalError("ReplicationFrame.parse threw a non-PGError: \(error)")
    }
    switch parsed {
    case .xLogData(let header):
        guard frame.count >= XLogDataHeader.size, frame[0] == UInt8(ascii: "w"),
            header.dataStart.rawValue == bigEndian(frame, at: 1), header.walEnd.rawValue == bigEndian(frame, at: 9),
            UInt64(bitPattern: header.sendTime.rawValue) == bigEndian(frame, at: 17)
        else { fatalError("XLogData header does not match its bytes: \(header)") }
        let payload = UnsafeRawBufferPointer(rebasing: frame[XLogDataHeader.size...])
        do {
            try assembler.feed(payload) { event in
                // Touch what a handler would: every row and value (hashing reads those in memory;
                // a spilled transaction's changes are read back from its file).
                _ = event.hashValue
                _ = event.acknowledgeLSN
                if case .transaction(let transaction) = event {
                    try transaction.changes.forEachChange { _ = $0.hashValue }
                }
            }
        } catch {
            _ = "\(error)"
        }
    case .keepalive(let keepalive):
        guard frame.count >= PrimaryKeepalive.size, frame[0] == UInt8(ascii: "k"),
            keepalive.walEnd.rawValue == bigEndian(frame, at: 1),
            UInt64(bitPattern: keepalive.sendTime.rawValue) == bigEndian(frame, at: 9),
            keepalive.replyRequested == (frame[17] != 0)
        else { fatalError("keepalive does not match its bytes: \(keepalive)") }
        // The status update that answers it is always 34 bytes.
        let update = StandbyStatusUpdate(
            write: keepalive.walEnd, flush: keepalive.walEnd, apply: 0, clock: keepalive.sendTime, replyRequested: false
        )
        if update.bytes.count != StandbyStatusUpdate.size { fatalError("status update of \(update.bytes.count) bytes") }
    }
}
