import Foundation
import Testing

@testable import PGReplicationCore

/// The one spill mechanism, with no server: records come back in order, rolled-back
/// subtransactions' records are skipped, a large body survives, and a file cut short or damaged
/// is an error, never a trap or a shorter read.
@Suite struct SpillRecordsTests {
    private func readAll(_ writer: SpillWriter) throws -> [[UInt8]] {
        var reader = writer.reader()
        var records: [[UInt8]] = []
        while let record = try reader.next({ (bytes: UnsafeRawBufferPointer) throws(PGError) in Array(bytes) }) {
            records.append(record)
        }
        return records
    }

    @Test func recordsComeBackInOrderWithoutTheRolledBackOnes() throws {
        var writer = try SpillWriter(directory: NSTemporaryDirectory(), prefix: "spill-test", purpose: "a test")
        let large = [UInt8](repeating: 7, count: 3 * SpillWriter.directBodySize + 5)
        try writer.append(subxid: 1, [1, 2, 3])
        try writer.append(subxid: 2, [4])
        try large.withUnsafeBytes { try writer.append(subxid: 1, head: [9, 9], body: $0) }
        try writer.append(subxid: 1, [])
        writer.abort(2)
        try writer.flush()
        #expect(try readAll(writer) == [[1, 2, 3], [9, 9] + large, []])
        // A reader reads the file again from its start, as often as asked.
        #expect(try readAll(writer).count == 3)
    }

    @Test func aFileCutShortIsAnError() throws {
        var writer = try SpillWriter(directory: NSTemporaryDirectory(), prefix: "spill-test", purpose: "a test")
        for index in 0..<100 { try writer.append(subxid: 0, [UInt8](repeating: UInt8(index), count: 100)) }
        try writer.flush()
        #expect(ftruncate(writer.file.fd, 5_000) == 0)
        let error = #expect(throws: SpillReadError<PGError>.self) { try readAll(writer) }
        guard case .read(let failure) = error else {
            Issue.record("not a read failure: \(String(describing: error))")
            return
        }
        #expect(failure.message.contains("cannot read back the spill file of a test"))
    }

    @Test func aDamagedLengthIsAnErrorNotAnAllocation() throws {
        var writer = try SpillWriter(directory: NSTemporaryDirectory(), prefix: "spill-test", purpose: "a test")
        try writer.append(subxid: 0, [1, 2, 3, 4])
        try writer.flush()
        var huge: UInt32 = 0xFFFF_FFF0
        #expect(pwrite(writer.file.fd, &huge, 4, 4) == 4)
        #expect(throws: SpillReadError<PGError>.self) { try readAll(writer) }
    }

    @Test func theCreatedFileIsUnlinkedAtOnce() throws {
        let directory = NSTemporaryDirectory() + "spill-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer {
            do {
                try FileManager.default.removeItem(atPath: directory)
            } catch {
                Issue.record("cannot remove \(directory): \(error)")
            }
        }
        var writer = try SpillWriter(directory: directory, prefix: "spill-test", purpose: "a test")
        try writer.append(subxid: 0, [1])
        try writer.flush()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        #expect(throws: PGError.self) {
            _ = try SpillWriter(directory: directory + "/missing", prefix: "spill-test", purpose: "a test")
        }
    }
}
