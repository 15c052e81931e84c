import Foundation
import PGOutput
import Testing

@Suite struct NumericTests {
    @Test(arguments: [
        "0", "1", "-1", "12345.6789", "-0.000123", "42.5000", "0.0000", "-99999999.9999",
        "123456789012345678901234567890.123456789", "NaN", "Infinity", "-Infinity", "100000000", "0.1",
    ])
    func textRoundTripsExactly(text: String) throws {
        let value = try decodeText(text, .numeric)
        #expect(value.description == text)
        #expect(PGNumeric(text)?.description == text)
    }

    @Test func tinyAndHugeValuesStayExact() throws {
        let tiny = "0." + String(repeating: "0", count: 999) + "1"
        #expect(try decodeText(tiny, .numeric).description == tiny)
        let huge = "-1" + String(repeating: "0", count: 2000)
        #expect(try decodeText(huge, .numeric).description == huge)
    }

    @Test func binaryMatchesText() throws {
        // 12345.6789: digits 1 2345 6789, weight 1, dscale 4.
        #expect(
            try decodeBinary(numericBytes(weight: 1, sign: 0, scale: 4, digits: [1, 2345, 6789]), .numeric)
                == decodeText("12345.6789", .numeric))
        // -0.000123: digits 0001 2300 from weight -1, dscale 6.
        #expect(
            try decodeBinary(numericBytes(weight: -1, sign: 0x4000, scale: 6, digits: [1, 2300]), .numeric)
                == decodeText("-0.000123", .numeric))
        // 42.5000 with trailing zero digits left out by the sender.
        #expect(
            try decodeBinary(numericBytes(weight: 0, sign: 0, scale: 4, digits: [42, 5000]), .numeric)
                == decodeText("42.5000", .numeric))
        // 100000000: digit 1 at weight 2 (trailing zero groups left out).
        #expect(
            try decodeBinary(numericBytes(weight: 2, sign: 0, scale: 0, digits: [1]), .numeric)
                == decodeText("100000000", .numeric))
        #expect(
            try decodeBinary(numericBytes(weight: 0, sign: 0, scale: 2, digits: []), .numeric).description == "0.00")
    }

    @Test func binarySpecialValues() throws {
        #expect(
            try decodeBinary(numericBytes(weight: 0, sign: 0xC000, scale: 0, digits: []), .numeric) == .numeric(.nan))
        #expect(
            try decodeBinary(numericBytes(weight: 0, sign: 0xD000, scale: 0, digits: []), .numeric)
                == .numeric(.infinity))
        #expect(
            try decodeBinary(numericBytes(weight: 0, sign: 0xF000, scale: 0, digits: []), .numeric)
                == .numeric(.negativeInfinity))
    }

    @Test func malformedBinaryThrows() {
        #expect(throws: PGValueDecodingError.self) {
            try decodeBinary(numericBytes(weight: 0, sign: 0x1234, scale: 0, digits: [1]), .numeric)
        }
        #expect(throws: PGValueDecodingError.self) {
            try decodeBinary(numericBytes(weight: 0, sign: 0, scale: 0, digits: [10_000]), .numeric)
        }
        #expect(throws: PGValueDecodingError.self) {
            try decodeBinary(Array(numericBytes(weight: 0, sign: 0, scale: 0, digits: [1, 2]).dropLast()), .numeric)
        }
        #expect(throws: PGValueDecodingError.self) {
            try decodeBinary(numericBytes(weight: 0, sign: 0, scale: -1, digits: [1]), .numeric)
        }
        #expect(throws: PGValueDecodingError.self) { try decodeText("1.2.3", .numeric) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("nan", .numeric) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("-", .numeric) }
    }

    @Test func decimalConversionWhenItFits() throws {
        #expect(PGNumeric("-12.340")?.decimalValue == Decimal(string: "-12.34"))
        #expect(PGNumeric("0.000")?.decimalValue == Decimal(0))
        #expect(PGNumeric("123456789012345678901234567890.123456789")?.decimalValue == nil)
        #expect(PGNumeric("NaN")?.decimalValue == nil)
        #expect(try Decimal(pgValue: .numeric(#require(PGNumeric("99.5")))) == Decimal(string: "99.5"))
        #expect(throws: PGValueConversionError.self) { try Decimal(pgValue: .numeric(.infinity)) }
        #expect(PGNumeric(-1234).description == "-1234")
        #expect(PGNumeric(0).description == "0")
        #expect(PGNumeric("2.5")?.doubleValue == 2.5)
    }

    @Test func componentsAreExposed() throws {
        let value = try #require(PGNumeric("-0.0120"))
        #expect(value.isNegative)
        #expect(value.significandDigits == [1, 2, 0])
        #expect(value.scale == 4)
        #expect(PGNumeric(isNegative: false, significandDigits: [0, 5], scale: 1)?.description == "0.5")
        #expect(PGNumeric(isNegative: false, significandDigits: [12], scale: 1) == nil)
    }
}

@Suite struct NumericDecimalChunkTests {
    @Test func decimalsAcrossChunkBoundaries() {
        for text in [
            "123456789012345678", "1234567890123456789", "-12345678901234567890123456789.12345678",
            "0.000000000000000000000000000001",
        ] {
            #expect(PGNumeric(text)?.decimalValue == Decimal(string: text), "\(text)")
        }
    }

    /// Random values of 0 to 40 digits, around the 19 digits that fit inline: the text and binary
    /// forms decode to the same value, which prints as the text and equals the value built from
    /// its digits.
    @Test func randomValuesAgreeAcrossFormsAndStorage() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let integerCount = Int.random(in: 0...22, using: &generator)
            let fractionCount = Int.random(in: 0...(integerCount == 0 ? 22 : 20), using: &generator)
            var integer = String(
                (0..<integerCount).map { _ in Character(String(Int.random(in: 0...9, using: &generator))) })
            integer = String(integer.drop(while: { $0 == "0" }))
            if integer.isEmpty { integer = "0" }
            let fraction = String(
                (0..<fractionCount).map { _ in Character(String(Int.random(in: 0...9, using: &generator))) })
            let negative = Bool.random(using: &generator) && (integer + fraction).contains(where: { $0 != "0" })
            let text = (negative ? "-" : "") + integer + (fraction.isEmpty ? "" : "." + fraction)
            let fromText = try decodeText(text, .numeric)
            #expect(fromText.description == text)
            // numeric_send: base-10000 groups aligned on the decimal point, zero groups trimmed.
            let padded = String(repeating: "0", count: (4 - integer.count % 4) % 4) + integer
            let paddedFraction = fraction + String(repeating: "0", count: (4 - fraction.count % 4) % 4)
            func groups(_ digits: String) -> [Int16] {
                stride(from: 0, to: digits.count, by: 4).map { start in
                    let slice = digits.dropFirst(start).prefix(4)
                    return Int16(slice) ?? 0
                }
            }
            var all = groups(padded) + groups(paddedFraction)
            var weight = padded.count / 4 - 1
            while let first = all.first, first == 0 {
                all.removeFirst()
                weight -= 1
            }
            while let last = all.last, last == 0 { all.removeLast() }
            if all.isEmpty { weight = 0 }
            let binary = numericBytes(
                weight: Int16(weight), sign: negative ? 0x4000 : 0, scale: Int16(fraction.count), digits: all)
            #expect(try decodeBinary(binary, .numeric) == fromText, "\(text)")
            let digits = (integer + fraction).utf8.map { $0 - UInt8(ascii: "0") }
            let built = try #require(PGNumeric(isNegative: negative, significandDigits: digits, scale: fraction.count))
            #expect(PGValue.numeric(built) == fromText, "\(text)")
            #expect(built.significandDigits == Array(digits.drop(while: { $0 == 0 })))
            #expect(built.significandDigitCount == built.significandDigits.count)
            #expect(PGNumeric(text) == built)
            #expect(built.hashValue == PGNumeric(text)?.hashValue)
        }
    }
}
