/// The column values of one row in an Insert, Update or Delete message.
///
/// Layout: Int16 column count, then per column a kind byte — `n` NULL, `u` unchanged TOASTed
/// value (not sent), `t` text (Int32 length + bytes), `b` binary (Int32 length + bytes). Only
/// published columns are present, in the order of the last Relation message for the table.
///
/// The tuple keeps its own copy of those bytes in wire form (one allocation per tuple, checked when
/// it was decoded). ``columns`` builds the column values from it on each access, so read it once
/// and keep the array; ``PGRow/init(columns:tuple:)`` decodes typed values straight from the wire
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
/// `@unchecked Sendable`: the buffer is written once, in ``copying(_:)``, and only read after.
struct WireBytes: Hashable, @unchecked Sendable {
    private final class Storage: ManagedBuffer<Int, UInt8> {}

    private let storage: Storage

    /// A new buffer holding a copy of `bytes`.
    static func copying(_ bytes: UnsafeRawBufferPointer) -> WireBytes {
        let buffer = Storage.create(minimumCapacity: bytes.count) { _ in bytes.count }
        buffer.withUnsafeMutablePointerToElements {
            UnsafeMutableRawBufferPointer(start: $0, count: bytes.count).copyMemory(from: bytes)
        }
        return WireBytes(storage: unsafeDowncast(buffer, to: Storage.self))
    }

    /// Calls `body` with the bytes, which must not escape it.
    @inline(__always)
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withUnsafeMutablePointers { count, elements in
            body(UnsafeRawBufferPointer(start: elements, count: count.pointee))
        }
    }

    static func == (lhs: WireBytes, rhs: WireBytes) -> Bool {
        lhs.storage === rhs.storage
            || lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in left.elementsEqual(right) } }
    }

    func hash(into hasher: inout Hasher) {
        withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
