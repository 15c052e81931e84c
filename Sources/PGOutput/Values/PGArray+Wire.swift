/// Text and binary decoding of array column values.
extension PGArray {
    /// PostgreSQL allows at most six dimensions (`MAXDIM`).
    static let maximumDimensions = 6

    // MARK: - Text

    /// Text (`array_out`): an optional `[lower:upper]...=` bounds prefix, then nested braces whose
    /// elements are separated by `,`. Elements may be double-quoted (with `\` escapes); an unquoted
    /// `NULL` (any case) is a NULL element.
    static func decodeText(_ reader: inout ValueReader, elementType: PGTypeOID) throws(PGValueDecodingError) -> PGArray
    {
        if let vector = decodeVector(reader, elementType: elementType) {
            reader.offset = reader.bytes.count
            return vector
        }
        return try decodeAnyText(&reader, elementType: elementType)
    }

    /// The common form `{e1,e2,…}`: one dimension, no bounds, no spaces around elements, at least
    /// one element. Anything else, or any error, returns `nil`, and ``decodeAnyText(_:elementType:)``
    /// reads (or rejects) the value: both accept the same arrays.
    private static func decodeVector(_ reader: ValueReader, elementType: PGTypeOID) -> PGArray? {
        var reader = reader
        let bytes = reader.bytes
        guard bytes.count >= 3, reader.offset == 0, bytes[0] == UInt8(ascii: "{") else { return nil }
        var elements: [PGValue] = []
        elements.reserveCapacity(commaCount(bytes, from: 1) &+ 1)
        reader.offset = 1
        while true {
            guard let next = reader.peek(), next != UInt8(ascii: "{"), next != UInt8(ascii: "}"), !isArraySpace(next),
                let element = try? readElement(&reader, elementType: elementType)
            else { return nil }
            elements.append(element)
            guard let separator = reader.peek() else { return nil }
            reader.offset &+= 1
            if separator == UInt8(ascii: "}") {
                guard reader.isAtEnd else { return nil }
                return PGArray(
                    elementType: elementType, dimension: Dimension(count: elements.count), elements: elements)
            }
            guard separator == UInt8(ascii: ",") else { return nil }
        }
    }

    /// Any text array, field by field.
    private static func decodeAnyText(
        _ reader: inout ValueReader, elementType: PGTypeOID
    ) throws(PGValueDecodingError)
        -> PGArray
    {
        var bounds: [(lower: Int, upper: Int)] = []
        while reader.consume(UInt8(ascii: "[")) {
            let lower = Int(try reader.readSignedInteger(as: Int32.self))
            try reader.expect(UInt8(ascii: ":"))
            let upper = Int(try reader.readSignedInteger(as: Int32.self))
            try reader.expect(UInt8(ascii: "]"))
            guard upper >= lower - 1, bounds.count < maximumDimensions else {
                throw reader.error("array bounds with upper >= lower, at most six dimensions")
            }
            bounds.append((lower, upper))
        }
        if !bounds.isEmpty { try reader.expect(UInt8(ascii: "=")) }
        skipSpaces(&reader)
        try reader.expect(UInt8(ascii: "{"))

        var depth = 1  // the number of open '{'
        var counts = LevelCounts(0)  // element or sub-array count of each open level
        var sizes = LevelCounts(-1)  // the size of each level once known, else -1
        var leafDepth = 0  // the depth that holds elements; 0 until the first element
        var elements: [PGValue] = []
        // At most one element more than there are commas: reserve that, not a growing sequence.
        elements.reserveCapacity(commaCount(reader.bytes, from: reader.offset) &+ 1)
        var expectingItem = true
        while depth > 0 {
            skipSpaces(&reader)
            if expectingItem {
                if reader.consume(UInt8(ascii: "{")) {
                    guard depth < maximumDimensions, leafDepth == 0 || depth < leafDepth else {
                        throw reader.error("an element, not a deeper sub-array", at: reader.offset - 1)
                    }
                    counts[depth] = 0
                    depth += 1
                    continue
                }
                if depth == 1, counts[0] == 0, elements.isEmpty, bounds.isEmpty, reader.consume(UInt8(ascii: "}")) {
                    skipSpaces(&reader)
                    try reader.expectEnd()
                    return PGArray(elementType: elementType, dimensions: [], elements: [])
                }
                guard leafDepth == 0 || leafDepth == depth else {
                    throw reader.error("a sub-array '{', as the other elements at this depth")
                }
                leafDepth = depth
                elements.append(try readElement(&reader, elementType: elementType))
                counts[depth - 1] += 1
                expectingItem = false
            } else if reader.consume(UInt8(ascii: ",")) {
                expectingItem = true
            } else if reader.consume(UInt8(ascii: "}")) {
                depth -= 1
                let count = counts[depth]
                if sizes[depth] >= 0 {
                    guard sizes[depth] == count else {
                        throw reader.error(
                            "\(sizes[depth]) items, as in the other sub-arrays at this depth", at: reader.offset - 1)
                    }
                } else {
                    sizes[depth] = count
                }
                if depth > 0 { counts[depth - 1] += 1 }
            } else {
                throw reader.error("',' or '}'")
            }
        }
        skipSpaces(&reader)
        try reader.expectEnd()
        if leafDepth == 1, bounds.isEmpty {
            return PGArray(
                elementType: elementType, dimension: Dimension(count: max(sizes[0], 0), lowerBound: 1),
                elements: elements)
        }
        var dimensions: [Dimension] = []
        for depth in 0..<leafDepth {
            dimensions.append(Dimension(count: max(sizes[depth], 0), lowerBound: 1))
        }
        if !bounds.isEmpty {
            guard bounds.count == dimensions.count,
                zip(bounds, dimensions).allSatisfy({ $0.upper - $0.lower + 1 == $1.count })
            else { throw reader.error("bounds that match the array's dimensions", at: 0) }
            for index in dimensions.indices { dimensions[index].lowerBound = bounds[index].lower }
        }
        return PGArray(elementType: elementType, dimensions: dimensions, elements: elements)
    }

    /// One integer per array level, kept inline so that parsing allocates nothing for them.
    private struct LevelCounts {
        private var storage: (Int, Int, Int, Int, Int, Int)

        init(_ value: Int) { storage = (value, value, value, value, value, value) }

        /// The value at `level` (`0..<maximumDimensions`); other levels read as 0 and ignore writes.
        subscript(level: Int) -> Int {
            get {
                guard level >= 0, level < PGArray.maximumDimensions else { return 0 }
                return withUnsafeBytes(of: storage) { $0.load(fromByteOffset: level &* 8, as: Int.self) }
            }
            set {
                guard level >= 0, level < PGArray.maximumDimensions else { return }
                withUnsafeMutableBytes(of: &storage) {
                    $0.storeBytes(of: newValue, toByteOffset: level &* 8, as: Int.self)
                }
            }
        }
    }

    /// The number of `,` in `bytes` from `start`.
    private static func commaCount(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var count = 0
        var index = start
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: ",") { count &+= 1 }
            index &+= 1
        }
        return count
    }

    private static func skipSpaces(_ reader: inout ValueReader) {
        while let byte = reader.peek(), isArraySpace(byte) { reader.offset += 1 }
    }

    private static func isArraySpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || (byte >= 9 && byte <= 13)
    }

    /// The end of a non-empty unquoted element at `start` made only of bytes that need no further
    /// look (no quote, brace, backslash or space) and followed by `,` or `}`; else `nil`.
    @inline(__always)
    private static func plainElementEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") { return index > start ? index : nil }
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
                || isArraySpace(byte)
            {
                return nil
            }
            index &+= 1
        }
        return nil
    }

    /// Reads one element (quoted or not) and decodes it with the element type's text decoder.
    private static func readElement(
        _ reader: inout ValueReader, elementType: PGTypeOID
    ) throws(PGValueDecodingError)
        -> PGValue
    {
        let start = reader.offset
        var unescaped: [UInt8]? = nil  // only built when the element has escapes
        var contentStart = start
        var contentEnd = start
        if reader.consume(UInt8(ascii: "\"")) {
            contentStart = reader.offset
            while true {
                guard let byte = reader.peek() else { throw reader.error("a closing '\"'") }
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    if unescaped == nil { unescaped = Array(reader.bytes[contentStart..<reader.offset]) }
                    reader.offset += 1
                    guard let escaped = reader.peek() else { throw reader.error("a character after '\\'") }
                    unescaped?.append(escaped)
                } else {
                    unescaped?.append(byte)
                }
                reader.offset += 1
            }
            contentEnd = reader.offset
            reader.offset += 1
        } else if let end = plainElementEnd(reader.bytes, from: start) {
            // The common unquoted element: no escapes, no spaces, ended by ',' or '}'.
            reader.offset = end
            contentEnd = end
            if end &- start == 4, reader.bytes[start] | 0x20 == UInt8(ascii: "n"),
                reader.bytes[start + 1] | 0x20 == UInt8(ascii: "u"),
                reader.bytes[start + 2] | 0x20 == UInt8(ascii: "l"),
                reader.bytes[start + 3] | 0x20 == UInt8(ascii: "l")
            {
                return .null
            }
        } else {
            var lastSignificant = start  // end of the content without trailing unescaped spaces
            var escapedLength = 0
            while let byte = reader.peek(), byte != UInt8(ascii: ","), byte != UInt8(ascii: "}") {
                guard byte != UInt8(ascii: "{"), byte != UInt8(ascii: "\"") else {
                    throw reader.error("',' or '}' (a '\(Character(Unicode.Scalar(byte)))' must be quoted)")
                }
                if byte == UInt8(ascii: "\\") {
                    if unescaped == nil { unescaped = Array(reader.bytes[start..<reader.offset]) }
                    reader.offset += 1
                    guard let escaped = reader.peek() else { throw reader.error("a character after '\\'") }
                    unescaped?.append(escaped)
                    reader.offset += 1
                    lastSignificant = reader.offset
                    escapedLength = unescaped?.count ?? 0
                    continue
                }
                unescaped?.append(byte)
                reader.offset += 1
                if !isArraySpace(byte) {
                    lastSignificant = reader.offset
                    escapedLength = unescaped?.count ?? 0
                }
            }
            contentEnd = lastSignificant
            if let count = unescaped?.count { unescaped?.removeLast(count - escapedLength) }
            guard contentEnd > start else { throw reader.error("an array element", at: start) }
            if unescaped == nil, contentEnd - start == 4,
                reader.bytes[start] | 0x20 == UInt8(ascii: "n"), reader.bytes[start + 1] | 0x20 == UInt8(ascii: "u"),
                reader.bytes[start + 2] | 0x20 == UInt8(ascii: "l"), reader.bytes[start + 3] | 0x20 == UInt8(ascii: "l")
            {
                return .null
            }
        }
        if let unescaped {
            return try PGValue.decode(unescaped, type: elementType, format: .text, base: reader.base + contentStart)
        }
        return try PGValue.decode(
            UnsafeRawBufferPointer(rebasing: reader.bytes[contentStart..<contentEnd]), type: elementType,
            format: .text, base: reader.base + contentStart)
    }

    // MARK: - Binary

    /// Binary (`array_send`); the element type in the header decides how elements are decoded.
    static func decodeBinary(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGArray {
        let dimensionCount = try reader.readInteger(as: Int32.self)
        guard dimensionCount >= 0, dimensionCount <= maximumDimensions else {
            throw reader.error("0 to 6 dimensions", at: 0)
        }
        let flags = try reader.readInteger(as: Int32.self)
        guard flags == 0 || flags == 1 else { throw reader.error("a has-nulls flag of 0 or 1", at: 4) }
        let elementType = PGTypeOID(try reader.readInteger(as: UInt32.self))
        guard elementType.arrayElementType == nil else { throw reader.error("a non-array element type", at: 8) }
        var first = Dimension(count: 0)
        var dimensions: [Dimension] = []  // built only for two or more dimensions
        var total = 1
        for level in 0..<dimensionCount {
            let start = reader.offset
            let count = try reader.readInteger(as: Int32.self)
            let lowerBound = try reader.readInteger(as: Int32.self)
            guard count >= 0 else { throw reader.error("a non-negative dimension length", at: start) }
            let (product, overflow) = total.multipliedReportingOverflow(by: Int(count))
            guard !overflow, product <= reader.remaining / 4 else {
                throw reader.error("at least 4 bytes for each of the dimensions' elements", at: start)
            }
            total = product
            let dimension = Dimension(count: Int(count), lowerBound: Int(lowerBound))
            if level == 0 {
                first = dimension
            } else {
                if dimensions.isEmpty { dimensions.append(first) }
                dimensions.append(dimension)
            }
        }
        if dimensionCount == 0 || total == 0 {
            try reader.expectEnd()
            return PGArray(elementType: elementType, dimensions: [], elements: [])
        }
        var elements: [PGValue] = []
        elements.reserveCapacity(total)
        for _ in 0..<total {
            let lengthStart = reader.offset
            let length = try reader.readInteger(as: Int32.self)
            if length == -1 {
                elements.append(.null)
                continue
            }
            guard length >= 0 else { throw reader.error("an element length of -1 or more", at: lengthStart) }
            let elementStart = reader.offset
            let bytes = try reader.readSlice(length: Int(length))
            elements.append(
                try PGValue.decode(bytes, type: elementType, format: .binary, base: reader.base + elementStart))
        }
        try reader.expectEnd()
        if dimensionCount == 1 { return PGArray(elementType: elementType, dimension: first, elements: elements) }
        return PGArray(elementType: elementType, dimensions: dimensions, elements: elements)
    }
}
