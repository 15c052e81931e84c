import Foundation
import PGReplication

/// The lines of one transaction kept on disk until its commit, in the package's one spill
/// mechanism (``PGReplicationCore/SpillWriter``): a record per change, its body the offsets
/// (ascending) where the commit's part goes, then the lines.
final class Spool {
    private var writer: SpillWriter

    init() throws(CLIError) {
        let directory = FileManager.default.temporaryDirectory.path
        do {
            writer = try SpillWriter(directory: directory, prefix: "pgrepl-spool", purpose: "a spooled transaction")
        } catch {
            throw CLIError(.io, "creating a spool file", error.message)
        }
    }

    /// Appends a record: the lines of one change, and the offsets (ascending) where the commit's
    /// part goes.
    func append(subxid: UInt32, insertionPoints: [Int], _ bytes: [UInt8]) throws(CLIError) {
        var head: [UInt8] = []
        head.reserveCapacity(4 * (insertionPoints.count + 1))
        withUnsafeBytes(of: UInt32(insertionPoints.count).littleEndian) { head += $0 }
        for point in insertionPoints { withUnsafeBytes(of: UInt32(point).littleEndian) { head += $0 } }
        do {
            try bytes.withUnsafeBytes { raw in
                Result { () throws(PGError) in try writer.append(subxid: subxid, head: head, body: raw) }
            }.get()
        } catch {
            throw CLIError(.io, "writing a spool file", error.message)
        }
    }

    /// The changes of `subxid` were rolled back.
    func abort(_ subxid: UInt32) { writer.abort(subxid) }

    /// Reads the records back in order, each line with `insertion` at its points, skipping
    /// rolled-back subtransactions.
    func replay(insertion: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        do {
            try writer.flush()
        } catch {
            throw CLIError(.io, "writing a spool file", error.message)
        }
        var reader = writer.reader()
        var assembled: [UInt8] = []
        do {
            while try reader.next({ record in try Self.replay(record, insertion, into: &assembled, body) }) != nil {}
        } catch {
            switch error {
            case .read(let failure): throw CLIError(.io, "reading a spool file", failure.message)
            case .body(let failure): throw failure
            }
        }
    }

    private static func replay(
        _ record: UnsafeRawBufferPointer, _ insertion: [UInt8], into assembled: inout [UInt8],
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        func damaged() -> CLIError { CLIError(.io, "reading a spool file", "a record is damaged") }
        guard record.count >= 4 else { throw damaged() }
        let count = Int(record.loadUnaligned(as: UInt32.self).littleEndian)
        let header = 4 + 4 * count
        guard count <= record.count / 4, record.count >= header else { throw damaged() }
        let lines = UnsafeRawBufferPointer(rebasing: record[header...])
        // Nothing to insert: the lines go out from where they were read.
        if insertion.isEmpty || count == 0 {
            try body(lines)
            return
        }
        assembled.removeAll(keepingCapacity: true)
        assembled.reserveCapacity(lines.count + insertion.count * count)
        var from = 0
        for index in 0..<count {
            let point = Int(record.loadUnaligned(fromByteOffset: 4 + 4 * index, as: UInt32.self).littleEndian)
            let split = min(max(point, from), lines.count)
            assembled += lines[from..<split]
            assembled += insertion
            from = split
        }
        assembled += lines[from...]
        try assembled.withUnsafeBytes { try body($0) }
        // A large line's room is not kept for the rest.
        if assembled.capacity > 1 << 20 { assembled = [] }
    }
}
