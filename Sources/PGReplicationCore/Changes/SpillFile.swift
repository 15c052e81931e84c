import Foundation

/// An open, unlinked temporary file, closed with its last owner: where what does not fit in
/// memory goes (large transactions of assembled delivery, pgrepl's spooled transactions).
package final class SpillFile: Sendable {
    let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// A new file in `directory`, unlinked at once, so that a crash leaves nothing behind.
    package static func create(in directory: String) throws(PGError) -> SpillFile {
        var template = Array((directory + "/pgrepl-spill-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.map { mkstemp($0) } ?? -1
        }
        guard fd >= 0 else {
            throw PGError(
                .operational, "cannot create a spill file in \(directory): \(String(cString: strerror(errno)))")
        }
        template.withUnsafeBufferPointer { buffer in if let path = buffer.baseAddress { _ = unlink(path) } }
        return SpillFile(fd: fd)
    }
}

/// Records of (subtransaction, payload) appended to a ``SpillFile``, written in batches:
/// UInt32 subtransaction, UInt32 payload length (little-endian), the payload.
package struct SpillWriter {
    package let file: SpillFile
    /// The bytes written to the file so far (``flush()`` writes the rest).
    package private(set) var size = 0
    private var pending: [UInt8] = []

    package init(in directory: String) throws(PGError) {
        file = try SpillFile.create(in: directory)
        pending.reserveCapacity(1 << 16)
    }

    package mutating func append(subxid: UInt32, _ payload: [UInt8]) throws(PGError) {
        withUnsafeBytes(of: subxid.littleEndian) { pending += $0 }
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { pending += $0 }
        pending += payload
        if pending.count >= 1 << 20 { try flush() }
    }

    /// Writes what is gathered.
    package mutating func flush() throws(PGError) {
        var done = 0
        while done < pending.count {
            let written = pending.withUnsafeBytes { raw in
                raw.baseAddress.map { Foundation.write(file.fd, $0 + done, raw.count - done) } ?? -1
            }
            guard written > 0 else {
                throw PGError(.operational, "cannot write a spill file: \(String(cString: strerror(errno)))")
            }
            done += written
        }
        size += pending.count
        pending.removeAll(keepingCapacity: true)
    }

    /// A reader of the records written so far (after ``flush()``).
    package var reader: SpillReader { SpillReader(file: file, size: size) }
}

/// Reads a ``SpillWriter``'s records back in order, from the start.
package struct SpillReader {
    private let file: SpillFile
    private let size: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var fileOffset = 0

    package init(file: SpillFile, size: Int) {
        self.file = file
        self.size = size
    }

    /// The next record, its payload borrowed for the call; nil at the end.
    package mutating func next<R>(_ body: (UInt32, UnsafeRawBufferPointer) throws -> R) throws -> R? {
        guard try fill(8) else { return nil }
        let subxid = word(start)
        let length = Int(word(start + 4))
        guard try fill(8 + length) else {
            throw PGError(.operational, "a spill file ends inside a record")
        }
        let payloadStart = start + 8
        start = payloadStart + length
        return try buffer.withUnsafeBytes { raw in
            try body(subxid, UnsafeRawBufferPointer(rebasing: raw[payloadStart..<(payloadStart + length)]))
        }
    }

    /// Makes sure `count` bytes from `start` are in the buffer; false at the end of the file.
    private mutating func fill(_ count: Int) throws(PGError) -> Bool {
        while buffer.count - start < count {
            guard fileOffset < size else { return false }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk = Swift.max(1 << 16, count)
            let old = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: chunk))
            let got = buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress.map { pread(file.fd, $0 + old, chunk, off_t(fileOffset)) } ?? -1
            }
            guard got > 0 else {
                throw PGError(.operational, "cannot read a spill file: \(String(cString: strerror(errno)))")
            }
            buffer.removeLast(chunk - got)
            fileOffset += got
        }
        return true
    }

    private func word(_ at: Int) -> UInt32 {
        UInt32(buffer[at]) | UInt32(buffer[at + 1]) << 8 | UInt32(buffer[at + 2]) << 16 | UInt32(buffer[at + 3]) << 24
    }
}
