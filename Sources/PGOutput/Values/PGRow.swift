/// One row of a table: the columns of a Relation message paired with the decoded values of a
/// TupleData.
///
/// All values are decoded when the row is made (measured: decoding eagerly is cheap next to the
/// message parsing, and it lets the accessors below be non-throwing for `PGValue`).
///
/// ```swift
/// let row = try PGRow(columns: relation.columns, tuple: insert.newTuple)
/// let qty = try row["qty", as: Int.self]
/// let order = try row.decode(Order.self)
/// ```
public struct PGRow: Hashable, Sendable {
    /// The columns, in tuple order.
    public let columns: [RelationColumn]
    /// The decoded values, one per column; empty for a row made with `decodingValues: false`,
    /// whose subscripts decode a column from ``tuple`` when it is read.
    public let values: [PGValue]
    /// The tuple the row was decoded from, when it was kept (`keepingTuple`): the values exactly
    /// as the server sent them, for consumers that copy them on (the text output functions'
    /// bytes in text mode). Not part of the row's equality.
    public let tuple: TupleData?
    /// The columns whose unchanged TOASTed values the stream read back by key, because the server
    /// did not send them (`ChangeStream.Configuration.unchangedToast` `.reselect`): their values
    /// are the row's current ones when read. Empty otherwise. Not part of the row's equality.
    public package(set) var reselectedColumns: Set<String> = []

    /// Decodes every column of `tuple` with the type of the matching relation column.
    ///
    /// - Parameters:
    ///   - columns: the columns of the table's Relation message.
    ///   - tuple: the row's values as they came.
    ///   - keepingTuple: keep `tuple` in ``tuple`` (off by default: a decoder's tuples reuse their
    ///     buffers when nothing else holds them).
    ///   - decodingValues: decode every value now (the default); without, ``values`` is empty, the
    ///     tuple is kept, and the subscripts decode a column when it is read (for consumers that
    ///     pass the server's bytes on and read few values, if any).
    /// - Throws: ``PGValueDecodingError`` (with ``PGValueDecodingError/column`` set) for a
    ///   malformed value, or when the tuple and the relation have different column counts.
    public init(
        columns: [RelationColumn], tuple: TupleData, keepingTuple: Bool = false, decodingValues: Bool = true
    ) throws(PGValueDecodingError) {
        guard decodingValues else {
            guard tuple.columnCount == columns.count else {
                throw PGValueDecodingError(
                    type: PGTypeOID(0), format: nil, offset: 0,
                    expected: "\(columns.count) columns as in the Relation message, found \(tuple.columnCount)")
            }
            self.columns = columns
            self.values = []
            self.tuple = tuple
            return
        }
        let result = tuple.wire.withUnsafeBytes { wire in
            Result { () throws(PGValueDecodingError) in try PGRow.decodeValues(columns: columns, wire: wire) }
        }
        self.columns = columns
        self.values = try result.get()
        self.tuple = keepingTuple ? tuple : nil
    }

    /// Decodes `tuple` and keeps `original` as ``tuple``: the tuple as the server sent it, when
    /// `tuple` was completed from elsewhere (unchanged TOASTed values filled from the old row).
    package init(
        columns: [RelationColumn], tuple: TupleData, original: TupleData, decodingValues: Bool = true
    ) throws(PGValueDecodingError) {
        let row = try PGRow(columns: columns, tuple: tuple, decodingValues: decodingValues)
        self.columns = row.columns
        self.values = row.values
        self.tuple = original
    }

    public static func == (lhs: PGRow, rhs: PGRow) -> Bool {
        lhs.columns == rhs.columns && lhs.values == rhs.values && (!lhs.values.isEmpty || lhs.tuple == rhs.tuple)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(columns)
        hasher.combine(values)
    }

    /// Decodes the values of a tuple's wire form, each straight from the borrowed bytes.
    private static func decodeValues(
        columns: [RelationColumn], wire: UnsafeRawBufferPointer
    )
        throws(PGValueDecodingError) -> [PGValue]
    {
        var cursor = TupleData.ColumnCursor(wire)
        guard columns.count == cursor.remainingColumns else {
            throw PGValueDecodingError(
                type: PGTypeOID(0), format: nil, offset: 0,
                expected: "\(columns.count) columns as in the Relation message, found \(cursor.remainingColumns)")
        }
        var values: [PGValue] = []
        values.reserveCapacity(columns.count)
        // By index, reading only the type OID: binding each `RelationColumn` would copy (retain and
        // release) its name for every value.
        for index in columns.indices {
            guard let (kind, bytes) = cursor.next() else { break }
            switch kind {
            case .null: values.append(.null)
            case .unchangedToast: values.append(.unchangedToast)
            case .text, .binary:
                let type = PGTypeOID(columns[index].typeOID)
                do {
                    values.append(
                        try PGValue.decode(bytes, type: type, format: kind == .text ? .text : .binary, base: 0))
                } catch {
                    var named = error
                    named.column = columns[index].name
                    throw named
                }
            }
        }
        return values
    }

    /// A row from already decoded values; extra columns or values beyond the shorter list are dropped.
    public init(columns: [RelationColumn], values: [PGValue]) {
        let count = min(columns.count, values.count)
        self.columns = Array(columns.prefix(count))
        self.values = Array(values.prefix(count))
        self.tuple = nil
    }

    /// The number of columns.
    public var count: Int { columns.count }

    /// The value at `position`: the decoded one, or, for a row without decoded values, decoded
    /// from its tuple now (nil when it does not decode).
    private func value(at position: Int) -> PGValue? {
        if !values.isEmpty { return values.indices.contains(position) ? values[position] : nil }
        guard let tuple, columns.indices.contains(position) else { return nil }
        var found: PGValue?
        tuple.forEachColumn { index, kind, bytes in
            guard index == position else { return }
            switch kind {
            case .null: found = .null
            case .unchangedToast: found = .unchangedToast
            case .text, .binary:
                found = try? PGValue.decode(
                    bytes, type: PGTypeOID(columns[position].typeOID), format: kind == .text ? .text : .binary,
                    base: 0)
            }
        }
        return found
    }

    /// The positions of the columns whose value is an unchanged TOASTed one the server did not
    /// send (`.unchangedToast`), read without decoding the others.
    package var unchangedToastPositions: [Int] {
        if !values.isEmpty { return values.indices.filter { values[$0] == .unchangedToast } }
        var positions: [Int] = []
        tuple?.forEachColumn { index, kind, _ in if kind == .unchangedToast { positions.append(index) } }
        return positions
    }

    /// The column names, in order.
    public var columnNames: [String] { columns.map(\.name) }

    /// The position of the column called `name`, or `nil`.
    public func position(of name: String) -> Int? {
        columns.firstIndex { $0.name == name }
    }

    /// The value of the column called `name`, or `nil` when there is no such column.
    public subscript(name: String) -> PGValue? {
        position(of: name).flatMap { value(at: $0) }
    }

    /// The value at `position`, or `nil` when out of range.
    public subscript(position: Int) -> PGValue? {
        value(at: position)
    }

    /// The value of the column called `name`, converted.
    ///
    /// - Throws: ``PGValueConversionError`` when there is no such column or the value does not
    ///   convert (a NULL for a non-optional type included).
    public subscript<T: PGDecodable>(name: String, as type: T.Type) -> T {
        get throws(PGValueConversionError) {
            guard let position = position(of: name) else {
                throw PGValueConversionError(
                    targetType: String(describing: T.self), value: nil, reason: "no such column", column: name)
            }
            return try self[position, as: T.self]
        }
    }

    /// The value at `position`, converted.
    ///
    /// - Throws: ``PGValueConversionError`` when out of range or the value does not convert.
    public subscript<T: PGDecodable>(position: Int, as type: T.Type) -> T {
        get throws(PGValueConversionError) {
            guard let value = value(at: position) else {
                throw PGValueConversionError(
                    targetType: String(describing: T.self), value: nil, reason: "no column at position \(position)")
            }
            do {
                return try T(pgValue: value)
            } catch {
                var named = error
                named.column = columns[position].name
                throw named
            }
        }
    }
}
