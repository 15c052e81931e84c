import PGOutput

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A captured pgoutput stream: every message's bytes back to back, and where each one starts.
///
/// File format (written by `capture-decoder-corpus.sh`): records of a big-endian UInt32 byte count
/// followed by one pgoutput message (its tag byte first).
public struct Corpus: Sendable {
    /// The messages, back to back.
    public let bytes: [UInt8]
    /// The offset of each message in ``bytes``, plus a final entry equal to `bytes.count`.
    public let starts: [Int]

    public var messageCount: Int { starts.count - 1 }

    /// The folder of the corpus files: `$DECODER_CORPUS_DIR`, else `.corpus` in the current folder
    /// (the `Benchmarks` package folder when run through `swift package benchmark` or `decoder.sh`).
    public static var defaultFolder: String {
        if let folder = getenv("DECODER_CORPUS_DIR") { return String(cString: folder) }
        return ".corpus"
    }

    /// Loads a corpus file; `limit` keeps only the first messages.
    public init(path: String, limit: Int = .max) throws(CorpusError) {
        guard let file = fopen(path, "rb") else {
            throw CorpusError("cannot open \(path): run Benchmarks/capture-decoder-corpus.sh first")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var starts: [Int] = [0]
        var header = [UInt8](repeating: 0, count: 4)
        while starts.count <= limit {
            guard header.withUnsafeMutableBytes({ fread($0.baseAddress, 1, 4, file) }) == 4 else { break }
            let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
            let start = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: length))
            let read = bytes.withUnsafeMutableBytes { fread($0.baseAddress.map { $0 + start }, 1, length, file) }
            guard read == length else { throw CorpusError("\(path): truncated record \(starts.count)") }
            starts.append(bytes.count)
        }
        guard starts.count > 1 else { throw CorpusError("\(path): no messages") }
        self.bytes = bytes
        self.starts = starts
    }
}

public struct CorpusError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What one pass over a corpus saw; the sums keep the optimizer from dropping the work.
public struct PassResult: Sendable {
    public var messages = 0
    public var rows = 0
    public var checksum = 0

    public init() {}
}

extension Corpus {
    /// Structural decode: every message into a ``PGOutputMessage`` (tuples checked and copied, column
    /// values left undecoded), as the Python reference does; each message's tag goes into the
    /// checksum. ``inspectStructure()`` also opens every row message.
    public func decodeStructure() throws -> PassResult {
        var result = PassResult()
        var decoder = PGOutputDecoder()
        try bytes.withUnsafeBytes { buffer in
            for index in 0..<messageCount {
                let message = try decoder.decode(
                    UnsafeRawBufferPointer(rebasing: buffer[starts[index]..<starts[index + 1]]))
                result.messages += 1
                result.checksum &+= Int(message.kind.rawValue)
            }
        }
        return result
    }

    /// Structural decode plus a `switch` over every message that reads the column count of each row
    /// message's tuple (what a consumer does next; the Python reference does not do this part).
    public func inspectStructure() throws -> PassResult {
        var result = PassResult()
        var decoder = PGOutputDecoder()
        try bytes.withUnsafeBytes { buffer in
            for index in 0..<messageCount {
                let message = try decoder.decode(
                    UnsafeRawBufferPointer(rebasing: buffer[starts[index]..<starts[index + 1]]))
                result.messages += 1
                switch message {
                case .insert(let insert): result.checksum &+= insert.newTuple.columnCount
                case .update(let update): result.checksum &+= update.newTuple.columnCount
                case .delete(let delete): result.checksum &+= delete.oldTuple.tuple.columnCount
                default: result.checksum &+= 1
                }
            }
        }
        return result
    }

    /// Typed rows: structural decode plus a ``PGRow`` (every column decoded to a typed ``PGValue``)
    /// for the new tuple of every Insert and Update.
    public func decodeRows() throws -> PassResult {
        var result = PassResult()
        var decoder = PGOutputDecoder()
        var columns: [RelationColumn] = []
        var columnsOID: UInt32 = 0
        try bytes.withUnsafeBytes { buffer in
            for index in 0..<messageCount {
                let message = try decoder.decode(
                    UnsafeRawBufferPointer(rebasing: buffer[starts[index]..<starts[index + 1]]))
                result.messages += 1
                let tuple: TupleData
                let oid: UInt32
                switch message {
                case .insert(let insert): (tuple, oid) = (insert.newTuple, insert.relationOID)
                case .update(let update): (tuple, oid) = (update.newTuple, update.relationOID)
                case .relation(let relation):
                    (columns, columnsOID) = (relation.columns, relation.oid)
                    continue
                default: continue
                }
                guard oid == columnsOID else { throw CorpusError("change before its Relation message") }
                let row = try PGRow(columns: columns, tuple: tuple)
                result.rows += 1
                result.checksum &+= row.count
            }
        }
        return result
    }
}
