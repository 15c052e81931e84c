/// A PostgreSQL array value: the element type, the dimensions with their lower bounds, and the
/// elements in row-major order (NULL elements are ``PGValue/null``).
///
/// An empty array (`{}`) has no dimensions and no elements. A one-dimensional `{1,2,3}` has one
/// dimension `(count: 3, lowerBound: 1)`. `[0:1]={5,6}` keeps its lower bound 0, and
/// `{{1,2},{3,4}}` has dimensions `[(2, 1), (2, 1)]` with elements `[1, 2, 3, 4]`.
///
/// Binary layout (`array_send`): Int32 dimension count, Int32 has-nulls flag, UInt32 element type
/// OID, then per dimension Int32 length and Int32 lower bound, then per element Int32 byte length
/// (-1 for NULL) and the element's binary bytes.
public struct PGArray: Hashable, Sendable, CustomStringConvertible {
    /// One dimension of an array.
    public struct Dimension: Hashable, Sendable {
        /// The number of elements along this dimension.
        public var count: Int
        /// The index of the first element (1 unless the array was written with explicit bounds).
        public var lowerBound: Int

        public init(count: Int, lowerBound: Int = 1) {
            self.count = count
            self.lowerBound = lowerBound
        }
    }

    /// The element type's OID.
    public var elementType: PGTypeOID
    /// The dimensions, outermost first; empty for an empty array.
    public var dimensions: [Dimension] {
        get {
            switch shape {
            case .empty: []
            case .vector(let dimension): [dimension]
            case .dimensions(let dimensions): dimensions
            }
        }
        set { shape = Shape(newValue) }
    }
    /// All elements, row-major.
    public var elements: [PGValue]

    /// The dimensions, kept without an array of their own for the common zero and one dimension;
    /// always the shortest form, so equal dimensions have equal shapes.
    private var shape: Shape

    private enum Shape: Hashable, Sendable {
        case empty
        case vector(Dimension)
        case dimensions([Dimension])

        init(_ dimensions: [Dimension]) {
            switch dimensions.count {
            case 0: self = .empty
            case 1: self = .vector(dimensions[0])
            default: self = .dimensions(dimensions)
            }
        }
    }

    /// An array from its parts. The element count should equal the product of the dimension counts.
    public init(elementType: PGTypeOID, dimensions: [Dimension], elements: [PGValue]) {
        self.elementType = elementType
        self.shape = Shape(dimensions)
        self.elements = elements
    }

    /// A one-dimensional array with lower bound 1 (or the empty array when `elements` is empty).
    public init(elementType: PGTypeOID, elements: [PGValue]) {
        self.elementType = elementType
        self.shape = elements.isEmpty ? .empty : .vector(Dimension(count: elements.count))
        self.elements = elements
    }

    /// A one-dimensional array (`dimension.count` should equal the element count).
    init(elementType: PGTypeOID, dimension: Dimension, elements: [PGValue]) {
        self.elementType = elementType
        self.shape = .vector(dimension)
        self.elements = elements
    }

    /// Whether any element is NULL.
    public var containsNull: Bool { elements.contains(.null) }

    /// The sub-arrays along the first dimension (for `{{1,2},{3,4}}`: `{1,2}` and `{3,4}`); for a
    /// one-dimensional array, `nil`.
    public var slices: [PGArray]? {
        guard dimensions.count > 1, let first = dimensions.first, first.count > 0 else { return nil }
        let inner = Array(dimensions.dropFirst())
        let size = elements.count / first.count
        return (0..<first.count).map { index in
            PGArray(
                elementType: elementType, dimensions: inner,
                elements: Array(elements[(index * size)..<((index + 1) * size)]))
        }
    }

    /// The PostgreSQL text form: `{1,2,NULL}`, `{{a,"b c"}}`, `[0:1]={5,6}`, `{}`; elements are
    /// quoted when needed.
    public var description: String {
        let dimensions = self.dimensions
        guard !dimensions.isEmpty else { return "{}" }
        var text = ""
        if dimensions.contains(where: { $0.lowerBound != 1 }) {
            for dimension in dimensions {
                text += "[\(dimension.lowerBound):\(dimension.lowerBound + dimension.count - 1)]"
            }
            text += "="
        }
        var index = 0
        func render(level: Int) {
            text += "{"
            for position in 0..<dimensions[level].count {
                if position > 0 { text += "," }
                if level + 1 < dimensions.count {
                    render(level: level + 1)
                } else {
                    text += PGArray.quoteElement(elements[index])
                    index += 1
                }
            }
            text += "}"
        }
        var expected = 1
        for dimension in dimensions {
            let (product, overflow) = expected.multipliedReportingOverflow(by: dimension.count)
            guard !overflow, dimension.count >= 0 else { return text + "{?}" }
            expected = product
        }
        if elements.count == expected { render(level: 0) } else { text += "{?}" }
        return text
    }

    private static func quoteElement(_ value: PGValue) -> String {
        if value == .null { return "NULL" }
        let raw = value.description
        let needsQuotes =
            raw.isEmpty || raw.caseInsensitiveEqualsNULL
            || raw.utf8.contains { byte in
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: ","), UInt8(ascii: "\""),
                    UInt8(ascii: "\\"), UInt8(ascii: " "), 9, 10, 11, 12, 13:
                    true
                default: false
                }
            }
        guard needsQuotes else { return raw }
        // By scalar, not by Character: a backslash or quote followed by a combining mark is one
        // Character, and would go unescaped.
        var quoted = "\""
        for scalar in raw.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { quoted.unicodeScalars.append("\\") }
            quoted.unicodeScalars.append(scalar)
        }
        return quoted + "\""
    }
}

extension String {
    fileprivate var caseInsensitiveEqualsNULL: Bool { utf8.count == 4 && uppercased() == "NULL" }
}
