/// The column values of one row in an Insert, Update or Delete message.
///
/// Layout: Int16 column count, then per column a kind byte — `n` NULL, `u` unchanged TOASTed
/// value (not sent), `t` text (Int32 length + bytes), `b` binary (Int32 length + bytes). Only
/// published columns are present, in the order of the last Relation message for the table.
///
/// The tuple keeps its own copy of those bytes in wire form (one allocation per tuple, checked when
/// it was decoded). ``columns`` builds the column values from it on each access, so read it once
/// and keep the array; ``PGRow/init(columns:tuple:keepingTuple:decodingValues:)`` decodes typed values straight from the wire
/// form without building it.
///
/// Related PostgreSQL documentation:
/// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
public struct TupleData: Hashable, Sendable, CustomDebugStringConvertible {
    /// One column value as it came over the wire.
    public enum Column: Hashable, Sendable {
        /// `n`: SQL NULL.
        case null
        /// `u`: an unchanged out-of-line (TOASTed) value the server did not send.
        case unchangedToast
        /// `t`: the type's text output, UTF-8.
        case text([UInt8])
        /// `b`: the type's binary send-function output (only with the `binary` option).
        case binary([UInt8])
    }

    /// The tuple in wire form: always a well-formed Int16 count and that many columns. Two tuples
    /// are equal exactly when their columns are, because the wire form of columns is unique.
    let wire: WireBytes

    init(wire: WireBytes) { self.wire = wire }

    /// A tuple with the given columns. At most `Int16.max` columns are kept, and at most
    /// `Int32.max` bytes of each value, as the wire format allows no more.
    public init(columns: [Column]) {
        var writer = ByteWriter()
        let kept = columns.prefix(Int(Int16.max))
        writer.writeInteger(Int16(kept.count))
        for column in kept {
            switch column {
            case .null: writer.writeInteger(Column.Kind.null.rawValue)
            case .unchangedToast: writer.writeInteger(Column.Kind.unchangedToast.rawValue)
            case .text(let bytes):
                writer.writeInteger(Column.Kind.text.rawValue)
                writer.writeLengthPrefixedBytes(bytes)
            case .binary(let bytes):
                writer.writeInteger(Column.Kind.binary.rawValue)
                writer.writeLengthPrefixedBytes(bytes)
            }
        }
        self.wire = writer.bytes.withUnsafeBytes { WireBytes.copying($0) }
    }

    /// The column values, in order (built on each access; see the type's discussion).
    public var columns: [Column] {
        get {
            wire.withUnsafeBytes { buffer in
                var cursor = ColumnCursor(buffer)
                var columns: [Column] = []
                columns.reserveCapacity(cursor.remainingColumns)
                while let (kind, value) = cursor.next() {
                    switch kind {
                    case .null: columns.append(.null)
                    case .unchangedToast: columns.append(.unchangedToast)
                    case .text: columns.append(.text(value.copiedBytes))
                    case .binary: columns.append(.binary(value.copiedBytes))
                    }
                }
                return columns
            }
        }
        set { self = TupleData(columns: newValue) }
    }

    /// The number of columns, without building ``columns``.
    public var columnCount: Int {
        wire.withUnsafeBytes { ColumnCursor($0).remainingColumns }
    }

    public var debugDescription: String { "TupleData(columns: \(columns))" }
}

extension TupleData {
    /// Walks the columns of a tuple in wire form without copying them.
    ///
    /// Only ever used on ``TupleData/wire``, which is well formed; should the bytes end early it
    /// stops rather than trap.
    struct ColumnCursor {
        private var reader: MessageReader
        /// The number of columns not yet returned.
        private(set) var remainingColumns: Int

        init(_ wire: UnsafeRawBufferPointer) {
            reader = MessageReader(wire)
            remainingColumns = Int((try? reader.readInteger(as: Int16.self)) ?? 0)
        }

        /// The next column's kind and value bytes (empty for NULL and unchanged TOAST), or `nil`.
        ///
        /// - Important: The value borrows the cursor's buffer; it must not escape its scope.
        @inline(__always)
        mutating func next() -> (kind: Column.Kind, value: UnsafeRawBufferPointer)? {
            guard remainingColumns > 0, let byte = try? reader.readByte(), let kind = Column.Kind(rawValue: byte)
            else { return nil }
            remainingColumns &-= 1
            switch kind {
            case .null, .unchangedToast:
                return (kind, UnsafeRawBufferPointer(rebasing: reader.bytes[reader.offset..<reader.offset]))
            case .text, .binary:
                guard let length = try? reader.readInteger(as: Int32.self),
                    let value = try? reader.readSlice(length: Int(length))
                else { return nil }
                return (kind, value)
            }
        }
    }
}

/// Immutable bytes in one allocation, for ``TupleData``.
///
/// A `ManagedBuffer` subclass is created by a specialized, inlined call; an `[UInt8]` of a size
/// known only at run time is allocated by an unspecialized standard-library function that looks
/// up generic metadata on every call, which was half the cost of decoding a tuple.
///
/// `@unchecked Sendable`: the bytes of a buffer are only written while exactly one reference to it
/// exists (right after it was created, or when a ``Pool`` finds it uniquely referenced again), and
/// only read after; see ``Pool``.
struct WireBytes: Hashable, @unchecked Sendable {
    struct Header {
        /// The number of bytes in use.
        var count: Int
        /// The number of bytes the buffer can hold.
        let capacity: Int
    }

    final class Storage: ManagedBuffer<Header, UInt8> {}

    /// Bytes of a large tuple left where they arrived: a slice of a buffer that `owner` keeps
    /// alive and never writes (the replication message), so that a large value is not copied.
    final class Lent: @unchecked Sendable {
        let owner: AnyObject
        let bytes: UnsafeRawBufferPointer

        init(owner: AnyObject, bytes: UnsafeRawBufferPointer) {
            self.owner = owner
            self.bytes = bytes
        }
    }

    private let storage: Storage
    private let lent: Lent?

    private init(storage: Storage) {
        self.storage = storage
        lent = nil
    }

    private init(lent: Lent) {
        storage = Self.noStorage
        self.lent = lent
    }

    /// The storage of lent bytes: empty, never written (so safe to share).
    nonisolated(unsafe) private static let noStorage = allocate(capacity: 0)

    /// A new buffer holding a copy of `bytes`.
    static func copying(_ bytes: UnsafeRawBufferPointer) -> WireBytes {
        let storage = allocate(capacity: bytes.count)
        fill(storage, with: bytes)
        return WireBytes(storage: storage)
    }

    /// A new buffer of `capacity` bytes, with `count` 0.
    @inline(__always)
    fileprivate static func allocate(capacity: Int) -> Storage {
        let buffer = Storage.create(minimumCapacity: capacity) { _ in Header(count: 0, capacity: capacity) }
        return unsafeDowncast(buffer, to: Storage.self)
    }

    /// Copies `bytes` into `storage`, which the caller holds the only reference to and which has the
    /// capacity for them.
    @inline(__always)
    fileprivate static func fill(_ storage: Storage, with bytes: UnsafeRawBufferPointer) {
        storage.withUnsafeMutablePointers { header, elements in
            let count = min(bytes.count, header.pointee.capacity)
            header.pointee.count = count
            UnsafeMutableRawBufferPointer(start: elements, count: count)
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
        }
    }

    /// Calls `body` with the bytes, which must not escape it.
    @inline(__always)
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        if let lent { return body(lent.bytes) }
        return storage.withUnsafeMutablePointers { header, elements in
            body(UnsafeRawBufferPointer(start: elements, count: header.pointee.count))
        }
    }

    static func == (lhs: WireBytes, rhs: WireBytes) -> Bool {
        (lhs.lent == nil && rhs.lent == nil && lhs.storage === rhs.storage)
            || lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in left.elementsEqual(right) } }
    }

    func hash(into hasher: inout Hasher) {
        withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// Tuple buffers that a ``PGOutputDecoder`` hands out again once nothing else refers to them.
    ///
    /// A decoded message owns its tuple bytes. A consumer that drops each message before decoding
    /// the next one (the common streaming loop) leaves the pool holding the only reference to the
    /// buffer: the next tuple is then copied into it instead of into a new allocation, which saves a
    /// `malloc` and a `free` per row message. `isKnownUniquelyReferenced` decides, exactly as
    /// copy-on-write collections do before writing in place, so a buffer still held by any message
    /// (or by a copy of the decoder) is never written; a new one is allocated instead.
    ///
    /// `@unchecked Sendable`: a pool is only used through its decoder's `mutating` methods, and it
    /// writes into a buffer only while it holds the sole reference to it.
    struct Pool: @unchecked Sendable {
        /// One slot per tuple of a message (an Update carries up to two).
        private var first: Storage?
        private var second: Storage?

        /// Tuples larger than this are not kept for reuse.
        static let largestKept = 16 * 1024
        /// Tuples at least this large are lent from ``owner`` when there is one, not copied.
        static let smallestLent = 1 << 20

        /// What keeps the bytes being decoded alive, while a decoder decodes lent bytes.
        var owner: AnyObject?

        init() {}

        /// A buffer holding a copy of `bytes`, reusing the buffer of `slot` (0 or 1) when it can;
        /// or, for a large tuple in bytes that ``owner`` keeps, those bytes themselves.
        @inline(__always)
        mutating func copy(_ bytes: UnsafeRawBufferPointer, slot: Int) -> WireBytes {
            if bytes.count >= Self.smallestLent, let owner {
                return WireBytes(lent: Lent(owner: owner, bytes: bytes))
            }
            if slot == 0 {
                return WireBytes(storage: Self.take(&first, bytes))
            }
            return WireBytes(storage: Self.take(&second, bytes))
        }

        @inline(__always)
        private static func take(_ cached: inout Storage?, _ bytes: UnsafeRawBufferPointer) -> Storage {
            let needed = bytes.count
            if isKnownUniquelyReferenced(&cached), let storage = cached {
                // (Through the pointer: `ManagedBuffer.header` is a class property, checked for
                // exclusive access at run time.)
                if storage.withUnsafeMutablePointerToHeader({ $0.pointee.capacity }) >= needed {
                    fill(storage, with: bytes)
                    return storage
                }
                // Free, but too small: the consumer drops its messages, so leave room to grow.
                return keep(&cached, bytes, capacity: needed &+ needed / 4 &+ 64)
            }
            // Still held (or none yet): an exact allocation, as the caller may keep this one too.
            return keep(&cached, bytes, capacity: needed)
        }

        private static func keep(_ cached: inout Storage?, _ bytes: UnsafeRawBufferPointer, capacity: Int) -> Storage {
            let storage = WireBytes.allocate(capacity: capacity)
            fill(storage, with: bytes)
            cached = capacity <= largestKept ? storage : nil
            return storage
        }
    }
}
