import Foundation
import PGOutput

/// The changes of a transaction, in order: in memory, and past the stream's memory budget
/// (`ChangeStream.Configuration.transactionMemoryLimit`) in a temporary file read back as they are
/// iterated, so that a transaction of any size is delivered whole without being held in memory.
///
/// A `Sequence` with a known ``count``: iterate it (`for change in transaction.changes`), or
/// make an array of it (`Array(transaction.changes)`) when the transaction is known to be small.
/// Each iteration of a spilled list reads the file again and decodes its changes anew. The file
/// is unlinked when it is created and goes with the last copy of the list.
///
/// Reading the file back can fail (an I/O error), and so can decoding a change in it (a value
/// the decoder refuses). A `for` loop cannot throw, so it then ends early and the list keeps
/// the error in ``readFailure``; `ChangeStream` checks it when the handler returns and ends
/// with it, without acknowledging the transaction. ``forEachChange(_:)`` throws it where it
/// happens instead.
public struct PGChangeList: Sequence, Hashable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible {
    private let memory: [PGChange]
    let spill: SpilledChanges?
    /// The estimated bytes the in-memory changes take (as the stream's memory budget counts
    /// them); 0 when unknown.
    package let memoryBytes: Int

    public init(_ changes: [PGChange]) {
        memory = changes
        spill = nil
        memoryBytes = 0
    }

    public init(arrayLiteral elements: PGChange...) { self.init(elements) }

    package init(memory: [PGChange], spill: SpilledChanges?, memoryBytes: Int = 0) {
        self.memory = memory
        self.spill = spill
        self.memoryBytes = memoryBytes
    }

    /// The number of changes.
    public var count: Int { memory.count + (spill?.count ?? 0) }
    public var isEmpty: Bool { count == 0 }
    /// The changes held in memory: a spilled part that cannot be read back yields fewer than
    /// ``count``, and a `Sequence` must never yield fewer than this.
    public var underestimatedCount: Int { memory.count }
    /// The first change.
    public var first: PGChange? { memory.first ?? spill.flatMap { Array($0.prefix(1)).first } }
    /// Whether part of the list lives in a temporary file.
    public var isSpilled: Bool { spill != nil }

    public func makeIterator() -> Iterator { Iterator(memory: memory.makeIterator(), spill: spill?.makeIterator()) }

    public struct Iterator: IteratorProtocol {
        var memory: IndexingIterator<[PGChange]>
        var spill: SpilledChanges.Iterator?

        /// The next change; nil at the end, or where the spilled part cannot be read back (see
        /// ``PGChangeList/readFailure``).
        public mutating func next() -> PGChange? { memory.next() ?? spill?.next() }

        /// The next change, or nil at the end; throws where the spilled part cannot be read
        /// back or a change in it cannot be decoded.
        public mutating func nextChange() throws(PGError) -> PGChange? {
            if let change = memory.next() { return change }
            return try spill?.nextChange()
        }
    }

    /// Calls `body` with each change in order. Unlike a `for` loop, it throws (a ``PGError``)
    /// where the spilled part of the list cannot be read back or a change in it cannot be
    /// decoded; errors `body` throws pass through.
    public func forEachChange(_ body: (PGChange) throws -> Void) throws {
        var iterator = makeIterator()
        while let change = try iterator.nextChange() { try body(change) }
    }

    /// The list with its in-memory changes replaced by `body`'s (as many, in order); the spilled
    /// part stays as it is. `spilled` is how many changes lie in that part.
    package func mappingMemory(
        _ body: ([PGChange]) throws -> [PGChange]
    ) rethrows -> (
        list: PGChangeList, spilled: Int
    ) {
        (PGChangeList(memory: try body(memory), spill: spill, memoryBytes: memoryBytes), spill?.count ?? 0)
    }

    /// Why an iteration of the list ended before its last change, if one did: its spill file
    /// could not be read back, or a change in it could not be decoded. Shared by every copy of
    /// the list; nil for a list held in memory.
    public var readFailure: PGError? { spill?.failure }

    /// Equal lists: the same changes in memory and the same spill file (copies of one list).
    /// Equality, hashing and the description never read a spill file, which can be of any size:
    /// two lists with spilled parts of their own compare unequal whatever the files hold (iterate
    /// them to compare their changes).
    public static func == (lhs: PGChangeList, rhs: PGChangeList) -> Bool {
        lhs.count == rhs.count && lhs.spill === rhs.spill && lhs.memory == rhs.memory
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        hasher.combine(memory)
        if let spill { hasher.combine(ObjectIdentifier(spill)) }
    }

    /// The changes in memory, and how many more a spill file holds.
    public var description: String {
        guard let spill else { return "\(memory)" }
        return "\(memory) and \(spill.count) spilled change\(spill.count == 1 ? "" : "s")"
    }
}

/// The spilled part of a list: changes in a spill file (``SpillWriter``), read back and decoded as
/// they are iterated.
package final class SpilledChanges: Sequence, @unchecked Sendable {
    let file: SpillFile
    /// The first failure of an iteration (guarded by `lock`).
    private var firstFailure: PGError?
    private let lock = NSLock()
    private let size: Int
    private let tables: [PGTable]
    private let aborted: Set<UInt32>
    let count: Int
    private let keepTuples: Bool
    private let decodeValues: Bool

    init(writer: SpillWriter, tables: [PGTable], count: Int, keepTuples: Bool, decodeValues: Bool) {
        file = writer.file
        size = writer.size
        aborted = writer.aborted
        self.tables = tables
        self.count = count
        self.keepTuples = keepTuples
        self.decodeValues = decodeValues
    }

    package func makeIterator() -> Iterator {
        Iterator(
            owner: self, reader: SpillReader(file: file, size: size, aborted: aborted, purpose: ChangeSpool.purpose))
    }

    var failure: PGError? { lock.withLock { firstFailure } }

    func noteFailure(_ error: PGError) {
        lock.withLock { if firstFailure == nil { firstFailure = error } }
    }

    package struct Iterator: IteratorProtocol {
        let owner: SpilledChanges
        var reader: SpillReader

        /// The next change; nil at the end, and at a failure, which the list keeps.
        package mutating func next() -> PGChange? {
            do {
                return try nextChange()
            } catch {
                owner.noteFailure(error)
                return nil
            }
        }

        package mutating func nextChange() throws(PGError) -> PGChange? {
            do {
                return try reader.next { record throws(PGError) in try owner.decode(record) }
            } catch {
                switch error {
                case .read(let failure), .body(let failure): throw failure
                }
            }
        }

        static func failure(_ why: String) -> PGError {
            PGError(.operational, "cannot read back the spill file of \(ChangeSpool.purpose): \(why)")
        }
    }

    /// One record's change (see ``ChangeSpool`` for the layout). Every read is checked: a
    /// damaged file is an error, never a trap.
    private func decode(_ record: UnsafeRawBufferPointer) throws(PGError) -> PGChange {
        var offset = 0
        func damaged() -> PGError { Iterator.failure("a record is damaged") }
        func byte() throws(PGError) -> UInt8 {
            guard offset < record.count else { throw damaged() }
            defer { offset += 1 }
            return record[offset]
        }
        func word() throws(PGError) -> Int {
            guard record.count - offset >= 4 else { throw damaged() }
            defer { offset += 4 }
            return Int(record.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian)
        }
        func bytes() throws(PGError) -> UnsafeRawBufferPointer {
            let length = try word()
            guard record.count - offset >= length else { throw damaged() }
            defer { offset += length }
            return UnsafeRawBufferPointer(rebasing: record[offset..<(offset + length)])
        }
        func table() throws(PGError) -> PGTable {
            let index = try word()
            guard tables.indices.contains(index) else { throw damaged() }
            return tables[index]
        }
        func row(_ table: PGTable) throws(PGError) -> PGRow {
            guard let tuple = TupleData(checkingWire: try bytes()) else { throw damaged() }
            do {
                return try PGRow(
                    columns: table.columns, tuple: tuple, keepingTuple: keepTuples, decodingValues: decodeValues)
            } catch {
                throw PGError(.data, "a spilled change to \(table.schema).\(table.name) cannot be decoded: \(error)")
            }
        }
        let kind = try byte()
        switch kind {
        case 0x49, 0x55, 0x44:  // I, U, D
            let flags = try byte()
            let table = try table()
            let old = flags & 1 != 0 ? try row(table) : nil
            let oldIsKey = flags & 2 != 0
            switch kind {
            case 0x49: return .insert(table: table, new: try row(table))
            case 0x55: return .update(table: table, old: old, oldIsKey: oldIsKey, new: try row(table))
            default:
                guard let old else { throw Iterator.failure("a delete without its old row") }
                return .delete(table: table, old: old, oldIsKey: oldIsKey)
            }
        case 0x54:  // T
            let options = try byte()
            let count = try word()
            guard count <= record.count else { throw damaged() }
            var tables: [PGTable] = []
            for _ in 0..<count { tables.append(try table()) }
            return .truncate(tables: tables, cascade: options & 1 != 0, restartIdentity: options & 2 != 0)
        case 0x4D:  // M
            let transactional = try byte() != 0
            let lsn = LSN(UInt64(try word()) << 32 | UInt64(try word()))
            let prefix = String(decoding: try bytes(), as: UTF8.self)
            let content = Array(try bytes())
            return .message(
                PGLogicalDecodingMessage(isTransactional: transactional, lsn: lsn, prefix: prefix, content: content))
        default:
            throw damaged()
        }
    }
}

/// The changes of one transaction being assembled: in memory up to a budget, then in a spill
/// file.
///
/// Record layout (little-endian): UInt32 subtransaction, UInt32 length, then the change: `I`,
/// `U` or `D`, a flags byte (1 an old row follows, 2 it is the key), UInt32 table index, the old
/// tuple and the new one as UInt32 length and wire bytes; `T`, options (1 cascade, 2 restart
/// identity), UInt32 count and table indexes; `M`, transactional, the LSN as two UInt32 (high,
/// low), prefix and content as length and bytes.
package struct ChangeSpool {
    /// What a change is made of, for its record: the tuples as they came.
    package enum Source {
        case row(kind: UInt8, table: PGTable, old: TupleData?, oldIsKey: Bool, new: TupleData?)
        case truncate([PGTable], cascade: Bool, restartIdentity: Bool)
        case message(PGLogicalDecodingMessage)
    }

    /// What the spill file holds, in its error messages.
    static let purpose = "a large transaction"

    private(set) var memory: [(subxid: UInt32, change: PGChange)] = []
    private var memoryBytes = 0
    let limit: Int
    let directory: String
    private var file: SpillWriter?
    private var tables: [PGTable] = []
    private var tableIndex: [PGTable: Int] = [:]
    private var spilledCounts: [UInt32: Int] = [:]
    private var aborted: Set<UInt32> = []

    package init(limit: Int, directory: String) {
        self.limit = limit
        self.directory = directory
    }

    /// How many changes are held in memory.
    var heldInMemory: Int { memory.count }

    mutating func append(subxid: UInt32, _ change: PGChange, source: () -> Source, bytes: Int) throws {
        if file == nil, memoryBytes + bytes <= limit {
            memory.append((subxid, change))
            memoryBytes += bytes
            return
        }
        try write(subxid: subxid, source())
    }

    /// A subtransaction rolled back: its changes are dropped.
    mutating func abort(_ subxid: UInt32) {
        memory.removeAll { $0.subxid == subxid }
        if spilledCounts[subxid] != nil {
            aborted.insert(subxid)
            file?.abort(subxid)
        }
    }

    /// The list to deliver; the spool is spent.
    mutating func list(keepTuples: Bool, decodeValues: Bool) throws -> PGChangeList {
        let changes = memory.map(\.change)
        guard var file else { return PGChangeList(memory: changes, spill: nil, memoryBytes: memoryBytes) }
        try file.flush()
        let count = spilledCounts.filter { !aborted.contains($0.key) }.values.reduce(0, +)
        let spilled = SpilledChanges(
            writer: file, tables: tables, count: count, keepTuples: keepTuples, decodeValues: decodeValues)
        self.file = nil
        return PGChangeList(memory: changes, spill: spilled, memoryBytes: memoryBytes)
    }

    private mutating func index(_ table: PGTable) -> UInt32 {
        if let known = tableIndex[table] { return UInt32(known) }
        tables.append(table)
        tableIndex[table] = tables.count - 1
        return UInt32(tables.count - 1)
    }

    private mutating func write(subxid: UInt32, _ source: Source) throws {
        if file == nil {
            file = try SpillWriter(directory: directory, prefix: "pgrepl-transaction", purpose: Self.purpose)
        }
        var record: [UInt8] = []
        func put(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { record += $0 } }
        func put(bytes: UnsafeRawBufferPointer) {
            put(UInt32(bytes.count))
            record += bytes
        }
        func put(tuple: TupleData) { tuple.withWireBytes { put(bytes: $0) } }
        switch source {
        case .row(let kind, let table, let old, let oldIsKey, let new):
            record.append(kind)
            record.append((old != nil ? 1 : 0) | (oldIsKey ? 2 : 0))
            put(index(table))
            if let old { put(tuple: old) }
            if let new { put(tuple: new) }
        case .truncate(let tables, let cascade, let restartIdentity):
            record.append(0x54)
            record.append((cascade ? 1 : 0) | (restartIdentity ? 2 : 0))
            put(UInt32(tables.count))
            for table in tables { put(index(table)) }
        case .message(let message):
            record.append(0x4D)
            record.append(message.isTransactional ? 1 : 0)
            put(UInt32(truncatingIfNeeded: message.lsn.rawValue >> 32))
            put(UInt32(truncatingIfNeeded: message.lsn.rawValue))
            Array(message.prefix.utf8).withUnsafeBytes { put(bytes: $0) }
            message.content.withUnsafeBytes { put(bytes: $0) }
        }
        try file?.append(subxid: subxid, record)
        spilledCounts[subxid, default: 0] += 1
    }
}
