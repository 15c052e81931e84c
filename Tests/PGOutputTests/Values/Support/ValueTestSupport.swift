import PGOutput

/// Decodes `text` as the text format of `type`.
func decodeText(_ text: String, _ type: PGTypeOID) throws(PGValueDecodingError) -> PGValue {
    try PGValue(column: .text(Array(text.utf8)), typeOID: type.rawValue)
}

/// Decodes `bytes` as the binary format of `type`.
func decodeBinary(_ bytes: [UInt8], _ type: PGTypeOID) throws(PGValueDecodingError) -> PGValue {
    try PGValue(column: .binary(bytes), typeOID: type.rawValue)
}

/// Big-endian bytes of an integer.
func be<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

/// `numeric_send` bytes from the header fields and base-10000 digits.
func numericBytes(weight: Int16, sign: UInt16, scale: Int16, digits: [Int16]) -> [UInt8] {
    be(Int16(digits.count)) + be(weight) + be(sign) + be(scale) + digits.flatMap { be($0) }
}

/// `array_send` bytes of a one-dimensional array whose elements are already encoded.
func arrayBytes(element: PGTypeOID, dimensions: [(count: Int32, lowerBound: Int32)], elements: [[UInt8]?]) -> [UInt8] {
    var out = be(Int32(dimensions.count)) + be(Int32(elements.contains { $0 == nil } ? 1 : 0)) + be(element.rawValue)
    for dimension in dimensions { out += be(dimension.count) + be(dimension.lowerBound) }
    for element in elements {
        if let element { out += be(Int32(element.count)) + element } else { out += be(Int32(-1)) }
    }
    return out
}
