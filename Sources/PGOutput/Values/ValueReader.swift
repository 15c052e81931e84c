/// The context of one column value being decoded, for both the binary (big-endian fields) and the
/// text (ASCII scanning) formats: every failure becomes a ``PGValueDecodingError`` carrying the
/// type, the format and the offset.
struct ValueContext: ByteReaderContext {
    let type: PGTypeOID
    let format: PGValueFormat
    /// Added to offsets in errors, for values nested inside an array.
    let base: Int

    func error(_ expected: String, at offset: Int) -> PGValueDecodingError {
        PGValueDecodingError(type: type, format: format, offset: base &+ offset, expected: expected)
    }

    func truncated(expected: Int, actual: Int, at offset: Int) -> PGValueDecodingError {
        error("\(expected) more bytes, found \(actual)", at: offset)
    }

    func invalidLength(_ length: Int, at offset: Int) -> PGValueDecodingError {
        error("a length of 0 or more, found \(length)", at: offset)
    }

    func trailingBytes(_ count: Int, at offset: Int) -> PGValueDecodingError {
        error("the end of the value (\(count) bytes left over)", at: offset)
    }
}

/// A ``ByteReader`` over one column value; errors are ``PGValueDecodingError``.
///
/// It borrows the bytes and must not escape the `withUnsafeBytes` scope that produced them.
typealias ValueReader = ByteReader<ValueContext>

extension ByteReader where Context == ValueContext {
    init(_ bytes: UnsafeRawBufferPointer, type: PGTypeOID, format: PGValueFormat, base: Int = 0) {
        self.init(bytes, context: ValueContext(type: type, format: format, base: base))
    }

    var type: PGTypeOID { context.type }
    var format: PGValueFormat { context.format }
    var base: Int { context.base }

    /// An error at `position` (default: the current offset).
    func error(_ expected: String, at position: Int? = nil) -> PGValueDecodingError {
        context.error(expected, at: position ?? offset)
    }

    // MARK: - Text

    /// Consumes `byte` if it is next.
    @inline(__always)
    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        offset &+= 1
        return true
    }

    /// Consumes `byte` or throws.
    mutating func expect(_ byte: UInt8) throws(PGValueDecodingError) {
        guard consume(byte) else { throw error("'\(Character(Unicode.Scalar(byte)))'") }
    }

    /// Consumes `literal` (ASCII, compared exactly) if it comes next.
    mutating func consume(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard remaining >= count else { return false }
        let start = literal.utf8Start
        for index in 0..<count where bytes[offset + index] != start[index] { return false }
        offset += count
        return true
    }

    /// Whether the whole value is exactly `literal`.
    func isExactly(_ literal: StaticString) -> Bool {
        var copy = self
        copy.offset = 0
        return copy.consume(literal) && copy.isAtEnd
    }

    /// Reads one or more decimal digits as a non-negative number; `maxDigits` bounds the count.
    /// Returns the value and the number of digits read.
    mutating func readDigits(max maxDigits: Int = 18) throws(PGValueDecodingError) -> (value: Int64, count: Int) {
        let start = offset
        var value: Int64 = 0
        while let byte = peek(), byte &- UInt8(ascii: "0") < 10 {
            guard offset - start < maxDigits else { throw error("at most \(maxDigits) digits") }
            value = value &* 10 &+ Int64(byte &- UInt8(ascii: "0"))
            offset += 1
        }
        guard offset > start else { throw error("a decimal digit") }
        return (value, offset - start)
    }

    /// Reads exactly `count` decimal digits.
    mutating func readFixedDigits(_ count: Int) throws(PGValueDecodingError) -> Int64 {
        let start = offset
        let (value, read) = try readDigits(max: count)
        guard read == count else { throw error("\(count) decimal digits", at: start) }
        return value
    }

    /// Reads a fraction `.ffffff` (if present) as microseconds, accepting 1 to 6 digits.
    mutating func readMicrosecondFraction() throws(PGValueDecodingError) -> Int64 {
        guard consume(UInt8(ascii: ".")) else { return 0 }
        let (value, count) = try readDigits(max: 6)
        var micros = value
        for _ in count..<6 { micros &*= 10 }
        return micros
    }

    /// Reads an optionally signed decimal integer that must fit `T`, without building a `String`.
    mutating func readSignedInteger<T: FixedWidthInteger>(as _: T.Type) throws(PGValueDecodingError) -> T {
        let start = offset
        let negative = consume(UInt8(ascii: "-"))
        if !negative { _ = consume(UInt8(ascii: "+")) }
        var value: T = 0
        var sawDigit = false
        while let byte = peek(), byte &- UInt8(ascii: "0") < 10 {
            let digit = T(byte &- UInt8(ascii: "0"))
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) =
                negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { throw error("a number within \(T.min)...\(T.max)", at: start) }
            value = next
            sawDigit = true
            offset += 1
        }
        guard sawDigit else { throw error("a decimal digit") }
        return value
    }
}

extension Array where Element == UInt8 {
    /// Hex digits of `self` (lower case), used by several text renderings.
    package var lowercaseHex: String {
        var out: [UInt8] = []
        withUnsafeBytes { appendLowercaseHex($0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Appends the hex digits (lower case) of `bytes` to `out`.
package func appendLowercaseHex(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
    let digits: StaticString = "0123456789abcdef"
    out.reserve(forAppending: 2 * bytes.count)
    digits.withUTF8Buffer { digits in
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
    }
}

/// The value of an ASCII hex digit, or `nil`.
@inline(__always)
package func hexDigitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte &- UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte &- UInt8(ascii: "a") &+ 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte &- UInt8(ascii: "A") &+ 10
    default: nil
    }
}

extension Array where Element == UInt8 {
    /// Makes room for `count` more bytes in one allocation. When the buffer grows it grows by at
    /// least half again: growing each time to just fit would copy the whole buffer for every
    /// value appended, which is quadratic in a batch of many values.
    package mutating func reserve(forAppending count: Int) {
        let needed = self.count + count
        if needed > capacity { reserveCapacity(Swift.max(needed, capacity + capacity / 2)) }
    }
}
