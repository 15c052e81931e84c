import PGReplication

/// WAL segment geometry and file names as PostgreSQL writes them: `TTTTTTTTXXXXXXXXYYYYYYYY`
/// (timeline, then the segment number split in "log" and "segment within log", upper-case hex).
struct WALSegments: Equatable, Sendable {
    /// The segment size in bytes: a power of two from 1 MiB to 1 GiB.
    let size: UInt64

    init?(size: UInt64) {
        guard size >= 1 << 20, size <= 1 << 30, size & (size - 1) == 0 else { return nil }
        self.size = size
    }

    /// Parses `SHOW wal_segment_size` (`16MB`, `1GB`, …).
    init?(setting text: String) {
        let digits = text.prefix { $0.isNumber }
        let units: [String: UInt64] = ["": 1, "B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30]
        guard let value = UInt64(digits), let unit = units[String(text.dropFirst(digits.count))] else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        self.init(size: bytes)
    }

    /// Segments per 4 GiB "log" (the middle eight digits of a name).
    var perLog: UInt64 { (1 << 32) / size }

    func segment(of lsn: LSN) -> UInt64 { lsn.rawValue / size }
    func offset(of lsn: LSN) -> UInt64 { lsn.rawValue % size }
    func start(ofSegment segment: UInt64) -> LSN { LSN(segment * size) }
    /// The start of the segment `lsn` is in.
    func segmentStart(_ lsn: LSN) -> LSN { start(ofSegment: segment(of: lsn)) }

    /// The file name of a segment, without `.partial`.
    func fileName(timeline: UInt32, segment: UInt64) -> String {
        hex8(UInt64(timeline)) + hex8(segment / perLog) + hex8(segment % perLog)
    }

    /// A segment file name, complete or `.partial`; nil for anything else (history files,
    /// compressed segments, other files).
    func parse(fileName name: String) -> (timeline: UInt32, segment: UInt64, partial: Bool)? {
        let partial = name.hasSuffix(".partial")
        let base = partial ? String(name.dropLast(".partial".count)) : name
        guard base.utf8.count == 24, base.utf8.allSatisfy({ isUpperHex($0) }) else { return nil }
        let utf8 = Array(base.utf8)
        func field(_ index: Int) -> UInt64? {
            UInt64(String(decoding: utf8[index * 8..<index * 8 + 8], as: UTF8.self), radix: 16)
        }
        guard let timeline = field(0), timeline > 0, let log = field(1), let low = field(2), low < perLog else {
            return nil
        }
        // The segment must start and end within the 64-bit LSN space: a crafted name could
        // otherwise make `start(ofSegment:)` of it or of the next segment overflow.
        let segment = log * perLog + low
        guard segment < UInt64.max / size else { return nil }
        return (UInt32(timeline), segment, partial)
    }

    /// A timeline history file name, `TTTTTTTT.history`.
    static func historyFileName(timeline: UInt32) -> String { hex8(UInt64(timeline)) + ".history" }
}

private func hex8(_ value: UInt64) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

private func isUpperHex(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
}
