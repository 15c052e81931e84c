/// Output-plugin options for `START_REPLICATION … LOGICAL`, in the order given.
///
/// Written as a dictionary literal; values may be strings, booleans or integers:
///
/// ```swift
/// try cursor.startReplication(slotName: "app", options: [
///     "proto_version": 4, "publication_names": "orders", "binary": true, "messages": true,
/// ])
/// ```
///
/// Keys are sent as quoted identifiers and values as string literals; booleans become `'true'` and
/// `'false'` (psycopg2 sends Python's `'True'`), and non-ASCII text is sent as UTF-8 (psycopg2 sends
/// Latin-1 or fails).
public struct ReplicationOptions: ExpressibleByDictionaryLiteral, Hashable, Sendable, Sequence {
    /// One option value.
    public enum Value: Hashable, Sendable, ExpressibleByStringInterpolation, ExpressibleByBooleanLiteral,
        ExpressibleByIntegerLiteral, CustomStringConvertible
    {
        case string(String)
        case bool(Bool)
        case int(Int)

        public init(stringLiteral value: String) { self = .string(value) }
        public init(booleanLiteral value: Bool) { self = .bool(value) }
        public init(integerLiteral value: Int) { self = .int(value) }

        /// The text sent to the server.
        public var description: String {
            switch self {
            case .string(let text): return text
            case .bool(let flag): return flag ? "true" : "false"
            case .int(let number): return String(number)
            }
        }
    }

    /// The options in order.
    public private(set) var pairs: [(key: String, value: Value)]

    public init(dictionaryLiteral elements: (String, Value)...) {
        self.pairs = elements.map { (key: $0.0, value: $0.1) }
    }

    public init(_ pairs: [(String, Value)]) {
        self.pairs = pairs.map { (key: $0.0, value: $0.1) }
    }

    /// Sets an option, replacing an earlier value of the same key in place.
    public mutating func set(_ key: String, _ value: Value) {
        if let index = pairs.firstIndex(where: { $0.key == key }) {
            pairs[index].value = value
        } else {
            pairs.append((key, value))
        }
    }

    public subscript(key: String) -> Value? { pairs.first { $0.key == key }?.value }

    public var isEmpty: Bool { pairs.isEmpty }

    public func makeIterator() -> IndexingIterator<[(key: String, value: Value)]> { pairs.makeIterator() }

    public static func == (lhs: ReplicationOptions, rhs: ReplicationOptions) -> Bool {
        lhs.pairs.elementsEqual(rhs.pairs) { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for (key, value) in pairs {
            hasher.combine(key)
            hasher.combine(value)
        }
    }
}
