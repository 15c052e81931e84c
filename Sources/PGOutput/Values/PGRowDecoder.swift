extension PGRow {
    /// How Swift property names map to column names in ``decode(_:keyDecodingStrategy:)``.
    public enum KeyDecodingStrategy: Hashable, Sendable {
        /// The property name is the column name.
        case useDefaultKeys
        /// `orderID` and `orderId` read the column `order_id` (camelCase to snake_case).
        case convertFromSnakeCase
    }

    /// Decodes the row into a `Decodable` type, keyed by column name.
    ///
    /// Each property reads the column of the same name (see ``KeyDecodingStrategy``); columns the
    /// type does not ask for are ignored. Properties of ``PGDecodable`` types convert directly;
    /// others decode through a single-value container (so `enum Mood: String, Decodable` reads an
    /// enum column) or, for arrays, an unkeyed container. Optional properties read NULL or a
    /// missing column as `nil`.
    ///
    /// ```swift
    /// struct Order: Decodable { let id: Int; let total: Decimal; let note: String? }
    /// let order = try row.decode(Order.self)
    /// ```
    ///
    /// - Throws: `DecodingError` (`keyNotFound`, `valueNotFound`, `typeMismatch` with the
    ///   ``PGValueConversionError`` as underlying error).
    public func decode<T: Decodable>(
        _ type: T.Type, keyDecodingStrategy: KeyDecodingStrategy = .useDefaultKeys
    )
        throws -> T
    {
        try T(from: RowDecoder(row: self, strategy: keyDecodingStrategy))
    }
}

/// The `Decoder` over a whole row (keyed by column name).
private struct RowDecoder: Decoder {
    let row: PGRow
    let strategy: PGRow.KeyDecodingStrategy
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(RowContainer<Key>(row: row, strategy: strategy))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        ArrayContainer(elements: row.values, codingPath: [])
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw DecodingError.typeMismatch(
            PGRow.self, .init(codingPath: [], debugDescription: "a row decodes into a keyed type, not a single value"))
    }
}

private struct RowContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let row: PGRow
    let strategy: PGRow.KeyDecodingStrategy
    var codingPath: [any CodingKey] { [] }

    var allKeys: [Key] {
        row.columns.compactMap { column in
            Key(stringValue: column.name)
                ?? (strategy == .convertFromSnakeCase ? Key(stringValue: camelCase(column.name)) : nil)
        }
    }

    func columnName(_ key: Key) -> String {
        strategy == .convertFromSnakeCase ? snakeCase(key.stringValue) : key.stringValue
    }

    func contains(_ key: Key) -> Bool { row.position(of: columnName(key)) != nil }

    func value(_ key: Key) throws -> PGValue {
        guard let value = row[columnName(key)] else {
            throw DecodingError.keyNotFound(
                key, .init(codingPath: [], debugDescription: "no column \"\(columnName(key))\" in the row"))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decodeValue(T.self, from: value(key), codingPath: [key])
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try ValueDecoder(value: value(key), codingPath: [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(value: value(key), codingPath: [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { RowDecoder(row: row, strategy: strategy) }
    func superDecoder(forKey key: Key) throws -> any Decoder { ValueDecoder(value: try value(key), codingPath: [key]) }
}

/// Converts one value: directly for ``PGDecodable`` types, else through a ``ValueDecoder``.
private func decodeValue<T: Decodable>(_ type: T.Type, from value: PGValue, codingPath: [any CodingKey]) throws -> T {
    guard let convertible = T.self as? any PGDecodable.Type else {
        return try T(from: ValueDecoder(value: value, codingPath: codingPath))
    }
    do {
        guard let result = try convertible.init(pgValue: value) as? T else {
            throw DecodingError.typeMismatch(
                T.self, .init(codingPath: codingPath, debugDescription: "conversion failed"))
        }
        return result
    } catch let error as PGValueConversionError {
        let context = DecodingError.Context(
            codingPath: codingPath, debugDescription: error.description, underlyingError: error)
        throw value == .null
            ? DecodingError.valueNotFound(T.self, context) : DecodingError.typeMismatch(T.self, context)
    }
}

/// The `Decoder` over one value (a column or an array element).
private struct ValueDecoder: Decoder, SingleValueDecodingContainer {
    let value: PGValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        throw DecodingError.typeMismatch(
            [String: Any].self,
            .init(codingPath: codingPath, debugDescription: "a column value cannot decode into a keyed type: \(value)"))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let array) = value else {
            throw DecodingError.typeMismatch(
                [PGValue].self, .init(codingPath: codingPath, debugDescription: "not an array: \(value)"))
        }
        return ArrayContainer(elements: array.slices?.map { .array($0) } ?? array.elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { value == .null }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decodeValue(T.self, from: value, codingPath: codingPath)
    }
}

/// An unkeyed container over array elements (or the sub-arrays of a multi-dimensional array).
private struct ArrayContainer: UnkeyedDecodingContainer {
    let elements: [PGValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(elements: [PGValue], codingPath: [any CodingKey]) {
        self.elements = elements
        self.codingPath = codingPath
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private struct IndexKey: CodingKey {
        var stringValue: String { String(intValue ?? 0) }
        var intValue: Int?
        init(_ index: Int) { intValue = index }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { self.intValue = intValue }
    }

    private mutating func next() throws -> (PGValue, [any CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                PGValue.self, .init(codingPath: codingPath, debugDescription: "no more array elements"))
        }
        defer { currentIndex += 1 }
        return (elements[currentIndex], codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try next()
        return try decodeValue(T.self, from: value, codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        let (value, path) = try next()
        return try ValueDecoder(value: value, codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (value, path) = try next()
        return try ValueDecoder(value: value, codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (value, path) = try next()
        return ValueDecoder(value: value, codingPath: path)
    }
}

/// `orderID` → `order_id`, `orderId` → `order_id`, `URLString` → `url_string`.
func snakeCase(_ name: String) -> String {
    // ASCII fast path: no uppercase letters means nothing to convert.
    if !name.utf8.contains(where: { $0 >= UInt8(ascii: "A") && ($0 <= UInt8(ascii: "Z") || $0 >= 0x80) }) {
        return name
    }
    let characters = Array(name)
    var out = ""
    for (index, character) in characters.enumerated() {
        if character.isUppercase, index > 0 {
            let previousLower = characters[index - 1].isLowercase || characters[index - 1].isNumber
            let nextLower = index + 1 < characters.count && characters[index + 1].isLowercase
            if previousLower || (characters[index - 1].isUppercase && nextLower) { out.append("_") }
        }
        out += character.lowercased()
    }
    return out
}

/// `order_id` → `orderId` (for ``RowContainer/allKeys`` only).
func camelCase(_ name: String) -> String {
    let parts = name.split(separator: "_", omittingEmptySubsequences: true)
    guard let first = parts.first else { return name }
    return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
}
