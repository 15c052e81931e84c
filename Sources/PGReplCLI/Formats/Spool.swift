import Foundation

/// The lines of one transaction kept on disk until its commit: records of (subtransaction,
/// insertion points, bytes) in an unlinked temporary file.
final class Spool {
    private let fd: Int32
    private var pending: [UInt8] = []
    private var aborted: Set<UInt32> = []

    init() throws {
        var template = Array((FileManager.default.temporaryDirectory.path + "/pgrepl-spool-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { $0.baseAddress.map { mkstemp($0) } ?? -1 }
        guard fd >= 0 else {
            throw CLIError.io("creating a spool file in \(FileManager.default.temporaryDirectory.path)")
        }
        template.withUnsafeBufferPointer { _ = $0.baseAddress.map { unlink($0) } }
        self.fd = fd
        pending.reserveCapacity(1 << 16)
    }

    deinit { close(fd) }

    /// Appends a record: the lines of one change, and the offsets (ascending) where the commit's
    /// part goes.
    func append(subxid: UInt32, insertionPoints: [Int], _ bytes: [UInt8]) throws {
        withUnsafeBytes(of: subxid.littleEndian) { pending += $0 }
        withUnsafeBytes(of: UInt32(insertionPoints.count).littleEndian) { pending += $0 }
        withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { pending += $0 }
        for point in insertionPoints { withUnsafeBytes(of: UInt32(point).littleEndian) { pending += $0 } }
        if bytes.count >= 1 << 16 {
            // A large record goes to the file from where it is, not through `pending`.
            try drain()
            try Output.writeAll(bytes, to: fd, context: "writing a spool file")
            return
        }
        pending += bytes
        if pending.count >= 1 << 16 { try drain() }
    }

    /// The changes of `subxid` were rolled back.
    func abort(_ subxid: UInt32) { aborted.insert(subxid) }

    private func drain() throws {
        try Output.writeAll(pending, to: fd, context: "writing a spool file")
        pending.removeAll(keepingCapacity: true)
    }

    /// Reads the records back in order, each line with `insertion` at its point, skipping rolled-back subtransactions.
    func replay(insertion: [UInt8], _ body: (ArraySlice<UInt8>) throws -> Void) throws {
        try drain()
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw CLIError.io("reading a spool file") }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var offset = 0
        func refill() throws -> Bool {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count >= 0 else { throw CLIError.io("reading a spool file") }
            if count == 0 { return false }
            data.removeFirst(offset)
            offset = 0
            data += chunk[0..<count]
            return true
        }
        func word(at position: Int) -> Int {
            Int(
                UInt32(data[position]) | UInt32(data[position + 1]) << 8 | UInt32(data[position + 2]) << 16
                    | UInt32(data[position + 3]) << 24)
        }
        while true {
            while data.count - offset < 12 { guard try refill() else { return } }
            let subxid = UInt32(word(at: offset))
            let pointCount = word(at: offset + 4)
            let length = word(at: offset + 8)
            let header = 12 + 4 * pointCount
            // A large record is read into room made once, not by doubling.
            if header + length > chunk.count { data.reserveCapacity(data.count + header + length) }
            while data.count - offset < header + length {
                guard try refill() else { throw CLIError(.io, "reading a spool file", "the file ends inside a record") }
            }
            let points = (0..<pointCount).map { word(at: offset + 12 + 4 * $0) }
            let start = offset + header
            offset = start + length
            if aborted.contains(subxid) { continue }
            if insertion.isEmpty || points.isEmpty {
                try body(data[start..<(start + length)])
            } else {
                var assembled: [UInt8] = []
                assembled.reserveCapacity(length + insertion.count * points.count)
                var from = start
                for point in points {
                    let split = start + min(point, length)
                    assembled += data[from..<split]
                    assembled += insertion
                    from = split
                }
                assembled += data[from..<(start + length)]
                try body(assembled[...])
            }
            if length > chunk.count {
                // The large record's room is not kept for the rest.
                data = Array(data[offset...])
                offset = 0
            }
        }
    }
}
