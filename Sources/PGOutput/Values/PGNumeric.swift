#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An exact PostgreSQL `numeric` value: a sign, decimal digits and a display scale, or one of the
/// special values `NaN`, `Infinity` and `-Infinity`.
///
/// The value is kept exactly as the server sent it, never through `Double`: `numeric` holds up to
/// 131 072 digits before the decimal point and 16 383 after it. ``description`` prints it the way
/// PostgreSQL does, with exactly ``scale`` digits after the point, so `1.50` stays `1.50`.
/// Equality is therefore *representational*: `1.5` and `1.50` are different values, as their text
/// differs.
///
/// ```swift
/// let price = try PGNumeric("-12.340")
/// price.description   // "-12.340"
/// price.decimalValue  // Optional(-12.34)
/// ```
public struct PGNumeric: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// Which kind of numeric value this is.
    public enum Kind: Hashable, Sendable {
        /// A finite number.
        case finite
        /// `NaN`.
        case nan
        /// `Infinity`.
        case infinity
        /// `-Infinity`.
        case negativeInfinity
    }

    /// Finite, NaN or one of the infinities.
    public let kind: Kind
    /// Whether a finite value is below zero (never true for zero).
    public let isNegative: Bool
    /// The unscaled magnitude: inline when it has at most 19 digits (nearly every value), else its
    /// digits. Always the first form when it fits, so equal values have equal storage.
    private let magnitude: Magnitude
    /// The number of digits after the decimal point (PostgreSQL's display scale, `dscale`).
    public let scale: Int

    /// The largest display scale a numeric can have: the 14 bits of `dscale` in PostgreSQL's
    /// numeric header (`NUMERIC_DSCALE_MASK`, `src/backend/utils/adt/numeric.c`).
    public static let maximumScale = 0x3FFF

    private enum Magnitude: Hashable, Sendable {
        /// At most ``PGNumeric/compactDigits`` digits.
        case compact(UInt64)
        /// More digits, most significant first, no leading zeros.
        case digits([UInt8])

        /// The form for digits without leading zeros.
        init(validDigits digits: some Collection<UInt8>) {
            if digits.count <= PGNumeric.compactDigits {
                var value: UInt64 = 0
                for digit in digits { value = value &* 10 &+ UInt64(digit) }
                self = .compact(value)
            } else {
                self = .digits(Array(digits))
            }
        }
    }

    /// Any number of at most 19 decimal digits fits a `UInt64`.
    static let compactDigits = 19

    /// The decimal digits (each `0...9`) of the unscaled magnitude, most significant first, with no
    /// leading zeros; empty for zero and for the special values.
    public var significandDigits: [UInt8] {
        switch magnitude {
        case .digits(let digits): return digits
        case .compact(let value):
            guard value > 0 else { return [] }
            var digits: [UInt8] = []
            var rest = value
            while rest > 0 {
                digits.append(UInt8(truncatingIfNeeded: rest % 10))
                rest /= 10
            }
            return digits.reversed()
        }
    }

    /// The number of ``significandDigits``, without building them.
    public var significandDigitCount: Int {
        switch magnitude {
        case .digits(let digits): return digits.count
        case .compact(let value):
            var count = 0
            var rest = value
            while rest > 0 {
                count += 1
                rest /= 10
            }
            return count
        }
    }

    /// `NaN`.
    public static let nan = PGNumeric(kind: .nan)
    /// `Infinity`.
    public static let infinity = PGNumeric(kind: .infinity)
    /// `-Infinity`.
    public static let negativeInfinity = PGNumeric(kind: .negativeInfinity)

    private init(kind: Kind) {
        self.kind = kind
        self.isNegative = kind == .negativeInfinity
        self.magnitude = .compact(0)
        self.scale = 0
    }

    /// A finite value `±significandDigits × 10^-scale`. Leading zero digits are dropped.
    ///
    /// Digits outside `0...9`, a negative scale, or a scale above PostgreSQL's largest display
    /// scale (``maximumScale``) return `nil`.
    public init?(isNegative: Bool, significandDigits: [UInt8], scale: Int) {
        guard (0...Self.maximumScale).contains(scale), significandDigits.allSatisfy({ $0 < 10 }) else { return nil }
        let digits = significandDigits.drop(while: { $0 == 0 })
        self.kind = .finite
        self.isNegative = isNegative && !digits.isEmpty
        self.magnitude = Magnitude(validDigits: digits)
        self.scale = scale
    }

    /// The numeric with the value of an integer (scale 0).
    public init(_ value: some BinaryInteger) {
        self.kind = .finite
        self.isNegative = value < 0
        self.magnitude = Magnitude(
            validDigits: value.magnitude.description.utf8.map { $0 &- UInt8(ascii: "0") }
                .drop(while: { $0 == 0 }))
        self.scale = 0
    }

    /// Parses PostgreSQL's text form: `NaN`, `Infinity`, `-Infinity`, or `[+-]digits[.digits]`.
    public init?(_ description: String) {
        var text = description
        let parsed: PGNumeric? = text.withUTF8 { buffer in
            var reader = ValueReader(UnsafeRawBufferPointer(buffer), type: .numeric, format: .text)
            return try? PGNumeric.decodeText(&reader)
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Whether this is a finite number.
    public var isFinite: Bool { kind == .finite }

    /// The value as PostgreSQL prints it: `-12.340`, `0.0001`, `NaN`, `Infinity`, `-Infinity`.
    public var description: String {
        switch kind {
        case .nan: return "NaN"
        case .infinity: return "Infinity"
        case .negativeInfinity: return "-Infinity"
        case .finite: break
        }
        if case .compact(let value) = magnitude { return Self.render(value, isNegative: isNegative, scale: scale) }
        let significandDigits = self.significandDigits
        var out: [UInt8] = []
        out.reserveCapacity(significandDigits.count + scale + 3)
        if isNegative { out.append(UInt8(ascii: "-")) }
        let count = significandDigits.count
        if count > scale {
            for digit in significandDigits[..<(count - scale)] { out.append(digit &+ UInt8(ascii: "0")) }
        } else {
            out.append(UInt8(ascii: "0"))
        }
        if scale > 0 {
            out.append(UInt8(ascii: "."))
            if count < scale { out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: scale - count)) }
            for digit in significandDigits[max(0, count - scale)...] { out.append(digit &+ UInt8(ascii: "0")) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value as a Foundation `Decimal`, or `nil` when it is not finite or does not fit exactly
    /// (more than 38 significant digits, or an exponent outside `Decimal`'s range).
    public var decimalValue: Decimal? {
        guard kind == .finite else { return nil }
        let significandDigits = self.significandDigits
        var digits = significandDigits[...]
        var exponent = -scale
        while let last = digits.last, last == 0 {
            digits.removeLast()
            exponent += 1
        }
        guard digits.count <= 38, exponent >= -128, exponent <= 127 else { return nil }
        guard !digits.isEmpty else { return Decimal(0) }
        // Whole chunks of up to 18 digits in a UInt64: Decimal arithmetic per digit is slow.
        var magnitude = Decimal(0)
        var chunk: UInt64 = 0
        var chunkDigits = 0
        var chunkScale: UInt64 = 1
        for digit in digits {
            chunk = chunk &* 10 &+ UInt64(digit)
            chunkDigits += 1
            chunkScale &*= 10
            if chunkDigits == 18 {
                magnitude = magnitude * Decimal(chunkScale) + Decimal(chunk)
                (chunk, chunkDigits, chunkScale) = (0, 0, 1)
            }
        }
        if chunkDigits > 0 { magnitude = magnitude * Decimal(chunkScale) + Decimal(chunk) }
        return Decimal(sign: isNegative ? .minus : .plus, exponent: exponent, significand: magnitude)
    }

    /// The nearest `Double` (may round; `nan` and the infinities map to their `Double` twins).
    public var doubleValue: Double {
        switch kind {
        case .nan: .nan
        case .infinity: .infinity
        case .negativeInfinity: -.infinity
        case .finite: Double(description) ?? .nan
        }
    }

    // MARK: - Wire formats

    /// Text: `NaN`, `Infinity`, `-Infinity` or `[+-]digits[.digits]` (what `numeric_out` prints).
    static func decodeText(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGNumeric {
        // The special values end in a letter, numbers in a digit.
        if let last = reader.bytes.last, last &- UInt8(ascii: "0") >= 10 {
            if reader.isExactly("NaN") { return .nan }
            if reader.isExactly("Infinity") { return .infinity }
            if reader.isExactly("-Infinity") { return .negativeInfinity }
        }
        let negative = reader.consume(UInt8(ascii: "-"))
        if !negative { _ = reader.consume(UInt8(ascii: "+")) }
        let start = reader.offset
        // Up to 19 significant digits go straight into a UInt64; more take the digit array below.
        var value: UInt64 = 0
        var significant = 0
        var scale = 0
        var sawPoint = false
        var sawDigit = false
        while let byte = reader.peek() {
            let digit = byte &- UInt8(ascii: "0")
            if digit < 10 {
                if significant > 0 || digit != 0 {
                    guard significant < compactDigits else {
                        reader.offset = start
                        return try decodeTextDigits(&reader, isNegative: negative)
                    }
                    value = value &* 10 &+ UInt64(digit)
                    significant &+= 1
                }
                if sawPoint { scale &+= 1 }
                sawDigit = true
            } else if byte == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
            } else {
                throw reader.error("a decimal digit or '.'")
            }
            reader.offset &+= 1
        }
        guard sawDigit else { throw reader.error("a decimal digit, NaN, Infinity or -Infinity") }
        return PGNumeric(magnitude: .compact(value), isNegative: negative && value != 0, scale: scale)
    }

    /// The digits of a number too long for a UInt64, from just after its sign.
    private static func decodeTextDigits(
        _ reader: inout ValueReader, isNegative: Bool
    ) throws(PGValueDecodingError)
        -> PGNumeric
    {
        var digits: [UInt8] = []
        digits.reserveCapacity(reader.remaining)
        var scale = 0
        var sawPoint = false
        while let byte = reader.peek() {
            if byte &- UInt8(ascii: "0") < 10 {
                if !(digits.isEmpty && byte == UInt8(ascii: "0")) { digits.append(byte &- UInt8(ascii: "0")) }
                if sawPoint { scale += 1 }
            } else if byte == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
            } else {
                throw reader.error("a decimal digit or '.'")
            }
            reader.offset += 1
        }
        return PGNumeric(validDigits: digits, isNegative: isNegative, scale: scale)
    }

    /// Binary (`numeric_send`): Int16 ndigits, Int16 weight, UInt16 sign, Int16 dscale, then
    /// ndigits base-10000 digits, the first one worth `10000^weight`.
    static func decodeBinary(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGNumeric {
        let groupCount = Int(try reader.readInteger(as: Int16.self))
        let weight = Int(try reader.readInteger(as: Int16.self))
        let signStart = reader.offset
        let sign = try reader.readInteger(as: UInt16.self)
        let displayScale = Int(try reader.readInteger(as: Int16.self))
        guard groupCount >= 0 else { throw reader.error("a non-negative digit count", at: 0) }
        guard displayScale >= 0 else { throw reader.error("a non-negative display scale", at: signStart + 2) }
        guard reader.remaining == groupCount * 2 else {
            throw reader.error(
                "\(groupCount) base-10000 digits (\(groupCount * 2) bytes), found \(reader.remaining) bytes")
        }
        let special: PGNumeric?
        switch sign {
        case 0x0000, 0x4000: special = nil
        case 0xC000: special = .nan
        case 0xD000: special = .infinity
        case 0xF000: special = .negativeInfinity
        default: throw reader.error("a sign of 0x0000, 0x4000, 0xC000, 0xD000 or 0xF000", at: signStart)
        }
        let groupsStart = reader.offset
        for _ in 0..<groupCount {
            let group = try reader.readInteger(as: Int16.self)
            guard group >= 0, group < 10_000 else { throw reader.error("a base-10000 digit", at: reader.offset - 2) }
        }
        if let special { return special }
        let groups = UnsafeRawBufferPointer(rebasing: reader.bytes[groupsStart..<reader.offset])
        if let compact = compactBinary(
            groups: groups, groupCount: groupCount, weight: weight,
            displayScale: displayScale, isNegative: sign == 0x4000)
        {
            return compact
        }
        var groupValues: [Int] = []
        groupValues.reserveCapacity(groupCount)
        for index in 0..<groupCount {
            groupValues.append(Int(Int16(bigEndian: groups.loadUnaligned(fromByteOffset: index &* 2, as: Int16.self))))
        }
        return binaryDigits(groups: groupValues, weight: weight, displayScale: displayScale, isNegative: sign == 0x4000)
    }

    /// 10000 to the power `exponent` (0...4).
    @inline(__always)
    private static func power10000(_ exponent: Int) -> UInt64 {
        var result: UInt64 = 1
        for _ in 0..<exponent { result &*= 10_000 }
        return result
    }

    /// The value of checked base-10000 groups when it has at most 19 digits and few enough groups
    /// for plain UInt64 arithmetic (four integer and four fraction groups at most); else `nil`, and
    /// ``binaryDigits(groups:weight:displayScale:isNegative:)`` builds the digits. Both give the
    /// same value.
    private static func compactBinary(
        groups: UnsafeRawBufferPointer, groupCount: Int, weight: Int, displayScale: Int, isNegative: Bool
    ) -> PGNumeric? {
        let fractionGroups = -min(weight - groupCount + 1, 0)
        guard weight <= 3, fractionGroups <= 4, groups.count == groupCount &* 2 else { return nil }
        var integer: UInt64 = 0  // below 10000^4
        var fraction: UInt64 = 0  // 4 × fractionGroups digits, below 10000^4
        for index in 0..<groupCount {
            let group = UInt64(UInt16(bigEndian: groups.loadUnaligned(fromByteOffset: index &* 2, as: UInt16.self)))
            let exponent = weight &- index
            if exponent >= 0 {
                integer &+= group &* power10000(exponent)
            } else {
                fraction &+= group &* power10000(fractionGroups &+ exponent)
            }
        }
        // Keep exactly dscale fraction digits unless the sender included non-zero digits beyond it.
        var fractionDigits = fractionGroups &* 4
        while fractionDigits > displayScale, fraction % 10 == 0 {
            fraction /= 10
            fractionDigits &-= 1
        }
        while fractionDigits < displayScale {
            let (scaled, overflow) = fraction.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            fraction = scaled
            fractionDigits &+= 1
        }
        var scaleFactor: UInt64 = 1
        for _ in 0..<fractionDigits {
            let (scaled, overflow) = scaleFactor.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            scaleFactor = scaled
        }
        let (shifted, overflow1) = integer.multipliedReportingOverflow(by: scaleFactor)
        let (value, overflow2) = shifted.addingReportingOverflow(fraction)
        guard !overflow1, !overflow2, value < 10_000_000_000_000_000_000 else { return nil }
        return PGNumeric(magnitude: .compact(value), isNegative: isNegative && value != 0, scale: fractionDigits)
    }

    /// The digits of checked base-10000 groups, one by one.
    private static func binaryDigits(groups: [Int], weight: Int, displayScale: Int, isNegative: Bool) -> PGNumeric {
        let groupCount = groups.count
        // Group at exponent e (of 10000) is groups[weight - e]; e >= 0 is the integer part.
        let lowestExponent = min(weight - groupCount + 1, 0)
        var integerDigits: [UInt8] = []
        var fractionDigits: [UInt8] = []
        var exponent = max(weight, 0)
        while exponent >= lowestExponent {
            let index = weight - exponent
            let group = index >= 0 && index < groupCount ? groups[index] : 0
            let four: [UInt8] = [
                UInt8(group / 1000), UInt8(group / 100 % 10), UInt8(group / 10 % 10), UInt8(group % 10),
            ]
            if exponent >= 0 {
                if !(integerDigits.isEmpty && group == 0) { integerDigits.append(contentsOf: four) }
            } else {
                fractionDigits.append(contentsOf: four)
            }
            exponent -= 1
        }
        // Keep exactly dscale fraction digits unless the sender included non-zero digits beyond it.
        if fractionDigits.count > displayScale {
            var keep = fractionDigits.count
            while keep > displayScale, fractionDigits[keep - 1] == 0 { keep -= 1 }
            fractionDigits.removeLast(fractionDigits.count - keep)
        } else {
            fractionDigits.append(contentsOf: repeatElement(0, count: displayScale - fractionDigits.count))
        }
        let scale = fractionDigits.count
        var digits = Array(integerDigits.drop(while: { $0 == 0 }))
        if digits.isEmpty {
            digits = Array(fractionDigits.drop(while: { $0 == 0 }))
        } else {
            digits.append(contentsOf: fractionDigits)
        }
        return PGNumeric(validDigits: digits, isNegative: isNegative, scale: scale)
    }

    /// Digits already validated and without leading zeros.
    private init(validDigits: [UInt8], isNegative: Bool, scale: Int) {
        self.kind = .finite
        self.isNegative = isNegative && !validDigits.isEmpty
        self.magnitude = Magnitude(validDigits: validDigits)
        self.scale = scale
    }

    /// A finite value from its parts (`isNegative` already false for zero).
    private init(magnitude: Magnitude, isNegative: Bool, scale: Int) {
        self.kind = .finite
        self.isNegative = isNegative
        self.magnitude = magnitude
        self.scale = scale
    }

    /// `numeric_out` of a compact magnitude: the digits with a point `scale` digits from the right.
    private static func render(_ value: UInt64, isNegative: Bool, scale: Int) -> String {
        // 19 digits, a sign, "0." and the zeros a scale beyond the digits needs.
        let capacity = 22 + max(scale, 0)
        return String(unsafeUninitializedCapacity: capacity) { out in
            var digits = (UInt64(0), UInt64(0), UInt64(0))  // up to 24 digit bytes, least significant first
            var count = 0
            withUnsafeMutableBytes(of: &digits) { buffer in
                var rest = value
                repeat {
                    buffer[count] = UInt8(truncatingIfNeeded: rest % 10) &+ UInt8(ascii: "0")
                    rest /= 10
                    count += 1
                } while rest > 0
            }
            if value == 0 { count = 0 }
            var position = 0
            func put(_ byte: UInt8) {
                out[position] = byte
                position += 1
            }
            if isNegative { put(UInt8(ascii: "-")) }
            withUnsafeBytes(of: digits) { buffer in
                if count > scale {
                    for index in stride(from: count - 1, through: scale, by: -1) { put(buffer[index]) }
                } else {
                    put(UInt8(ascii: "0"))
                }
                if scale > 0 {
                    put(UInt8(ascii: "."))
                    if count < scale { for _ in 0..<(scale - count) { put(UInt8(ascii: "0")) } }
                    for index in stride(from: min(count, scale) - 1, through: 0, by: -1) { put(buffer[index]) }
                }
            }
            return position
        }
    }
}
