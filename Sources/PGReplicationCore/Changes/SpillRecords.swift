import Foundation

/// An open, unlinked temporary file, closed with its last owner.
package final class SpillFile: Sendable {
    package let fd: Int32

    init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }
}

/// Records written to an unlinked temporary file and read back in order: the package's one spill
/// mechanism, for a large transaction's changes (``PGChangeList``) and for `pgrepl stream`'s
/// spooled lines.
///
/// Record layout (little-endian): UInt32 subtransaction, UInt32 body length, the body. The
/// records of a subtransaction rolled back (``abort(_:)``) are skipped when read. A crash leaves
/// nothing behind: the file is unlinked as it is created.
package struct SpillWriter {
    package let file: SpillFile
    /// Bytes written to the file so far (``flush()`` writes the rest).
    package private(set) var size = 0
    /// The subtransactions rolled back.
    package private(set) var aborted: Set<UInt32> = []
    /// Records gathered before they are written.
    private var pending: [UInt8] = []
    /// What the file holds, for error messages: "a large transaction", "a spooled transaction".
    private let purpose: String
    private let directory: String

    /// Pending bytes are written once there are this many.
    static let pendingLimit = 1 << 20
    /// A body this large goes to the file from where it is, not through the pending bytes.
    static let directBodySize = 1 << 16

    /// Creates the file in `directory` (named `prefix-XXXXXX` until it is unlinked at once).
    package init(directory: String, prefix: String, purpose: String) throws(PGError) {
        var template = Array((directory + "/\(prefix)-XXXXXX").utf8CString)
        let opened = template.withUnsafeMutableBufferPointer { $0.baseAddress.map { mkstemp($0) } ?? -1 }
        guard opened >= 0 else {
            throw PGError(
                .operational,
                "cannot create the spill file of \(purpose) in \(directory): \(String(cString: strerror(errno)))")
        }
        template.withUnsafeBufferPointer { _ = $0.baseAddress.map { unlink($0) } }
        file = SpillFile(fd: opened)
        self.purpose = purpose
        self.directory = directory
    }

    /// Appends a record whose body is `head` then `body`.
    package mutating func append(subxid: UInt32, head: [UInt8], body: UnsafeRawBufferPointer) throws(PGError) {
        withUnsafeBytes(of: subxid.littleEndian) { pending += $0 }
        withUnsafeBytes(of: UInt32(head.count + body.count).littleEndian) { pending += $0 }
        pending += head
        if body.count >= Self.directBodySize {
            try flush()
            try write(body)
            size += body.count
            return
        }
        pending += body
        if pending.count >= Self.pendingLimit { try flush() }
    }

    /// Appends a record whose body is `body`.
    package mutating func append(subxid: UInt32, _ body: [UInt8]) throws(PGError) {
        try body.withUnsafeBytes { raw in
            Result { () throws(PGError) in try append(subxid: subxid, head: [], body: raw) }
        }.get()
    }

    /// The records of `subxid` are skipped when read.
    package mutating func abort(_ subxid: UInt32) { aborted.insert(subxid) }

    /// Writes what is pending; the file then holds every record appended.
    package mutating func flush() throws(PGError) {
        try pending.withUnsafeBytes { raw in Result { () throws(PGError) in try write(raw) } }.get()
        size += pending.count
        pending.removeAll(keepingCapacity: true)
    }

    /// A reader of the records written so far (after ``flush()``).
    package func reader() -> SpillReader {
        SpillReader(file: file, size: size, aborted: aborted, purpose: purpose)
    }

    private func write(_ bytes: UnsafeRawBufferPointer) throws(PGError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let written = Foundation.write(file.fd, base + done, bytes.count - done)
            if written < 0, errno == EINTR { continue }
            guard written > 0 else {
                throw PGError(
                    .operational,
                    "cannot write the spill file of \(purpose) in \(directory): \(String(cString: strerror(errno)))")
            }
            done += written
        }
    }
}

/// Reads a spill file's records back in order, skipping rolled-back subtransactions. Every read
/// is checked: a file cut short or damaged is an error, never a trap.
package struct SpillReader {
    private let file: SpillFile
    private let size: Int
    private let aborted: Set<UInt32>
    private let purpose: String
    private var buffer: [UInt8] = []
    private var start = 0
    private var fileOffset = 0

    /// Bytes read at a time.
    static let chunkSize = 1 << 16

    init(file: SpillFile, size: Int, aborted: Set<UInt32>, purpose: String) {
        self.file = file
        self.size = size
        self.aborted = aborted
        self.purpose = purpose
    }

    /// Calls `body` with the next record's body (valid only during the call); nil at the end.
    package mutating func next<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(SpillReadError<Failure>) -> Result? {
        let range: Range<Int>
        do {
            guard let next = try nextRange() else { return nil }
            range = next
        } catch {
            throw .read(error)
        }
        let result = buffer.withUnsafeBytes { raw in
            Swift.Result { () throws(Failure) in try body(UnsafeRawBufferPointer(rebasing: raw[range])) }
        }
        if range.count > Self.chunkSize {
            // A large record's room is not kept for the rest.
            buffer = Array(buffer[start...])
            start = 0
        }
        switch result {
        case .success(let value): return value
        case .failure(let error): throw .body(error)
        }
    }

    /// The range in `buffer` of the next record not rolled back; nil at the end.
    private mutating func nextRange() throws(PGError) -> Range<Int>? {
        while try fill(8) {
            let subxid = UInt32(truncatingIfNeeded: word(start))
            let length = word(start + 4)
            guard length <= size, try fill(8 + length) else { throw failure("it ends inside a record") }
            let body = start + 8
            start = body + length
            if aborted.contains(subxid) { continue }
            return body..<(body + length)
        }
        return nil
    }

    /// Makes sure `count` bytes from `start` are in the buffer; false at the end of the file.
    private mutating func fill(_ count: Int) throws(PGError) -> Bool {
        while buffer.count - start < count {
            guard fileOffset < size else {
                guard buffer.count == start else { throw failure("it ends inside a record") }
                return false
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk = Swift.min(Swift.max(Self.chunkSize, count - buffer.count), size - fileOffset)
            let old = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: chunk))
            let got = buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress.map { pread(file.fd, $0 + old, chunk, off_t(fileOffset)) } ?? -1
            }
            guard got > 0 else {
                throw failure(got < 0 ? String(cString: strerror(errno)) : "it is shorter than written")
            }
            buffer.removeLast(chunk - got)
            fileOffset += got
        }
        return true
    }

    private func word(_ at: Int) -> Int {
        Int(
            UInt32(buffer[at]) | UInt32(buffer[at + 1]) << 8 | UInt32(buffer[at + 2]) << 16 | UInt32(buffer[at + 3])
                << 24)
    }

    func failure(_ why: String) -> PGError {
        PGError(.operational, "cannot read back the spill file of \(purpose): \(why)")
    }
}

/// Why ``SpillReader/next(_:)`` failed: the file could not be read back, or the caller's body
/// threw.
package enum SpillReadError<Failure: Error>: Error {
    case read(PGError)
    case body(Failure)
}
