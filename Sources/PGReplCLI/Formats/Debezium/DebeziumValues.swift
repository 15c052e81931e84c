import Foundation
import PGOutput
import PGReplication

/// Each value as Debezium 3.6.3's PostgreSQL connector writes it with the JSON converter, under
/// the options it was made with. The differential test compares them with Debezium's own.
///
/// Every conversion is total: a value outside what Debezium's type can hold saturates (where
/// Debezium saturates) or is written at the type's end (where Debezium's own arithmetic wraps,
/// which `Docs/pgrepl.md` lists), never a trap.
struct DebeziumValues {
    let options: DebeziumOptions

    /// The placeholder Debezium writes for an unchanged TOASTed value it did not get.
    static let unavailable = "__debezium_unavailable_value"

    /// What the catalog says of a column beyond its type OID.
    enum Kind {
        case plain
        /// An `hstore` (an extension's type: its OID differs per database).
        case hstore
        /// A domain: written as its base type.
        case domain(ColumnFacts.DomainBase)
    }

    /// One value, as Debezium's mapping for the column's type writes it.
    func value(_ value: PGValue, _ column: RelationColumn, kind: Kind, into out: inout [UInt8]) {
        switch kind {
        case .plain: break
        case .hstore:
            if case .raw(let raw) = value,
                let pairs = raw.format == .text
                    ? raw.string.flatMap(Self.hstorePairs) : Self.binaryHstorePairs(raw.bytes)
            {
                hstoreValue(pairs, into: &out)
                return
            }
        case .domain(let base):
            let baseColumn = RelationColumn(
                flags: column.flags, name: column.name, typeOID: base.oid, typeModifier: base.modifier)
            if case .raw(let raw) = value,
                let decoded = try? PGValue(
                    column: raw.format == .text ? .text(raw.bytes) : .binary(raw.bytes), typeOID: base.oid,
                    typeModifier: base.modifier)
            {
                self.value(decoded, baseColumn, into: &out)
                return
            }
            if case .unchangedToast = value {
                self.value(value, baseColumn, into: &out)
                return
            }
        }
        self.value(value, column, into: &out)
    }

    /// One value of a built-in type (or one without a mapping of its own).
    func value(_ value: PGValue, _ column: RelationColumn, into out: inout [UInt8]) {
        switch value {
        case .null: JSONWriter.append("null", to: &out)
        case .unchangedToast: unavailable(column, into: &out)
        case .bool(let flag): JSONWriter.append(flag ? "true" : "false", to: &out)
        case .int16(let number): JSONWriter.appendNumber(number, to: &out)
        case .int32(let number): JSONWriter.appendNumber(number, to: &out)
        case .int64(let number): JSONWriter.appendNumber(number, to: &out)
        case .oid(let number): JSONWriter.appendNumber(number, to: &out)
        case .float32(let number): float(Double(number), shortest: number.description, into: &out)
        case .float64(let number): float(number, shortest: number.description, into: &out)
        case .numeric(let number): numeric(number, typeModifier: column.typeModifier, into: &out)
        case .text(let text), .json(let text), .jsonb(let text): JSONWriter.appendString(text, to: &out)
        case .char: JSONWriter.appendString(value.description, to: &out)
        case .bytea(let bytes): binary(bytes, into: &out)
        case .uuid: JSONWriter.appendString(value.description, to: &out)
        case .date(let date): JSONWriter.appendNumber(Self.epochDays(date), to: &out)
        case .time(let time): self.time(time.microsecondsSinceMidnight, column, into: &out)
        case .timetz(let time):
            // io.debezium.time.ZonedTime: the time in UTC, ISO-8601.
            var micros = time.time.microsecondsSinceMidnight &- Int64(time.utcOffsetSeconds) &* 1_000_000
            let day: Int64 = 86_400_000_000
            micros = ((micros % day) + day) % day
            JSONWriter.appendString(Self.isoClock(micros, digits: nil) + "Z", to: &out)
        case .timestamp(let time): timestamp(time, column, into: &out)
        case .timestamptz(let time):
            // io.debezium.time.ZonedTimestamp: ISO-8601 in UTC, the fraction padded to the
            // column's precision.
            Self.appendISOTimestamp(time, digits: Self.precision(column), into: &out)
        case .interval(let interval): self.interval(interval, into: &out)
        case .inet, .cidr: JSONWriter.appendString(value.description, to: &out)
        case .array(let array):
            out.append(0x5B)
            let element = RelationColumn(
                flags: 0, name: column.name, typeOID: array.elementType.rawValue, typeModifier: -1)
            for (index, item) in array.elements.enumerated() {
                if index > 0 { out.append(0x2C) }
                self.value(item, element, into: &out)
            }
            out.append(0x5D)
        case .raw(let raw): self.raw(raw, column, into: &out)
        }
    }

    /// The value of a NOT NULL column the change did not carry (a delete's old row under
    /// REPLICA IDENTITY DEFAULT): the column's default when it is a constant, else the type's
    /// zero, as Debezium writes it.
    func required(_ column: RelationColumn, kind: Kind, default expression: String?, into out: inout [UInt8]) {
        var column = column
        if case .domain(let base) = kind {
            column = RelationColumn(
                flags: column.flags, name: column.name, typeOID: base.oid, typeModifier: base.modifier)
        }
        if let expression, let literal = Self.constant(expression),
            let decoded = try? PGValue(
                column: .text(Array(literal.utf8)), typeOID: column.typeOID,
                typeModifier: column.typeModifier), decoded != .null
        {
            value(decoded, column, into: &out)
            return
        }
        zero(column, into: &out)
    }

    /// The literal of a constant default (`42`, `'text'::type`, `true`), nil for an expression.
    static func constant(_ expression: String) -> String? {
        var text = Substring(expression)
        if text.hasPrefix("("), text.hasSuffix(")") { text = text.dropFirst().dropLast() }
        if text.first == "'" {
            // Up to the closing quote (a doubled quote is one); nil when there is none.
            var literal = ""
            var index = text.index(after: text.startIndex)
            while index < text.endIndex {
                let character = text[index]
                if character == "'" {
                    let next = text.index(after: index)
                    if next < text.endIndex, text[next] == "'" {
                        literal.append("'")
                        index = text.index(after: next)
                        continue
                    }
                    let rest = text[next...]
                    return rest.isEmpty || rest.hasPrefix("::") ? literal : nil
                }
                literal.append(character)
                index = text.index(after: index)
            }
            return nil
        }
        if text == "true" || text == "false" { return String(text) }
        let number = text.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        return !number.isEmpty && number.allSatisfy({ "0123456789.-+eE".contains($0) }) ? number : nil
    }

    /// A type's zero, as Debezium writes it for a required column without a value.
    private func zero(_ column: RelationColumn, into out: inout [UInt8]) {
        switch PGTypeOID(column.typeOID) {
        case .bool: JSONWriter.append("false", to: &out)
        // Days, milliseconds or microseconds since the epoch or midnight: 0 in every mode.
        case .int2, .int4, .int8, .oid, .date, .time, .timestamp: JSONWriter.append("0", to: &out)
        case .float4, .float8: JSONWriter.append("0.0", to: &out)
        case .numeric: numeric(PGNumeric(0), typeModifier: column.typeModifier, into: &out)
        case .money: money(cents: 0, into: &out)
        case .timestamptz: JSONWriter.appendString("1970-01-01T00:00:00Z", to: &out)
        case .timetz: JSONWriter.appendString("00:00:00Z", to: &out)
        case .interval:
            if options.intervalHandling == .string {
                JSONWriter.appendString("P0Y0M0DT0H0M0S", to: &out)
            } else {
                JSONWriter.append("0", to: &out)
            }
        case .bit where column.typeModifier == 1: JSONWriter.append("false", to: &out)
        case .bytea: binary([], into: &out)
        case .bit, .varbit: JSONWriter.appendString("", to: &out)
        default:
            if PGTypeOID(column.typeOID).arrayElementType != nil {
                JSONWriter.append("[]", to: &out)
            } else {
                JSONWriter.appendString("", to: &out)
            }
        }
    }

    /// The placeholder in the column's form: bytes of its text for `bytea`, a one-element array
    /// for an array.
    private func unavailable(_ column: RelationColumn, into out: inout [UInt8]) {
        if column.typeOID == PGTypeOID.bytea.rawValue {
            // Debezium encodes the placeholder's bytes in the bytes mode, and keeps its text in
            // hex mode. In the base64 modes it writes null, which reads as a NULL value: pgrepl
            // keeps the placeholder's text there too (Docs/pgrepl.md).
            switch options.binaryHandling {
            case .bytes: binary(Array(Self.unavailable.utf8), into: &out)
            case .hex, .base64, .base64URLSafe: JSONWriter.appendString(Self.unavailable, to: &out)
            }
        } else if PGTypeOID(column.typeOID).arrayElementType != nil {
            out.append(0x5B)
            JSONWriter.appendString(Self.unavailable, to: &out)
            out.append(0x5D)
        } else {
            JSONWriter.appendString(Self.unavailable, to: &out)
        }
    }

    // MARK: - Numbers

    private func float(_ number: Double, shortest: String, into out: inout [UInt8]) {
        if number.isNaN {
            JSONWriter.appendString("NaN", to: &out)
        } else if number.isInfinite {
            JSONWriter.appendString(number > 0 ? "Infinity" : "-Infinity", to: &out)
        } else {
            out += Array(shortest.utf8)
        }
    }

    func numeric(_ number: PGNumeric, typeModifier: Int32, into out: inout [UInt8]) {
        let declaredScale = Self.numericScale(typeModifier)
        switch options.decimalHandling {
        case .string:
            switch number.kind {
            case .finite:
                var text = number.description
                if let declaredScale, declaredScale > number.scale {
                    // A zero written for a required column: at the column's scale.
                    text += (number.scale == 0 ? "." : "") + String(repeating: "0", count: declaredScale - number.scale)
                }
                JSONWriter.appendString(text, to: &out)
            case .nan: JSONWriter.appendString("NAN", to: &out)
            case .infinity: JSONWriter.appendString("POSITIVE_INFINITY", to: &out)
            case .negativeInfinity: JSONWriter.appendString("NEGATIVE_INFINITY", to: &out)
            }
        case .double:
            switch number.kind {
            case .finite: out += Array(String(number.doubleValue).utf8)
            case .nan: JSONWriter.appendString("NaN", to: &out)
            case .infinity: JSONWriter.appendString("Infinity", to: &out)
            case .negativeInfinity: JSONWriter.appendString("-Infinity", to: &out)
            }
        case .precise:
            guard number.isFinite else {
                JSONWriter.append("null", to: &out)
                return
            }
            var digits = number.significandDigits
            var scale = declaredScale ?? number.scale
            if declaredScale == nil {
                // io.debezium.data.VariableScaleDecimal: trailing zeros of the fraction dropped.
                while scale > 0, digits.count > 1, digits.last == 0 {
                    digits.removeLast()
                    scale -= 1
                }
            } else if scale > number.scale {
                digits += Array(repeating: 0, count: scale - number.scale)
            } else if scale < number.scale {
                // A negative declared scale (PostgreSQL 15+): the server rounded to it, so the
                // digits dropped are zeros.
                digits.removeLast(max(0, min(digits.count - 1, number.scale - scale)))
            }
            Self.decimal(
                Self.twosComplement(digits: digits, negative: number.isNegative),
                variableScale: declaredScale == nil ? scale : nil, into: &out)
        }
    }

    /// Kafka Connect's `Decimal` (the unscaled value's bytes, base64), or Debezium's
    /// `VariableScaleDecimal` (`{"scale":…,"value":…}`) when the column declares no scale.
    private static func decimal(_ unscaled: [UInt8], variableScale: Int?, into out: inout [UInt8]) {
        guard let scale = variableScale else {
            JSONWriter.appendBase64String(unscaled, to: &out)
            return
        }
        JSONWriter.append("{\"scale\":", to: &out)
        JSONWriter.appendNumber(scale, to: &out)
        JSONWriter.append(",\"value\":", to: &out)
        JSONWriter.appendBase64String(unscaled, to: &out)
        out.append(0x7D)
    }

    /// A numeric column's declared scale: typmod = (precision << 16 | scale's 11 bits) + 4, the
    /// scale negative from PostgreSQL 15 on; nil without one.
    static func numericScale(_ typeModifier: Int32) -> Int? {
        guard typeModifier >= 4 else { return nil }
        let bits = Int((typeModifier - 4) & 0x7FF)
        return bits >= 0x400 ? bits - 0x800 : bits
    }

    /// A numeric's text (`-12.340`) as ``numeric(_:typeModifier:into:)`` writes it, without
    /// decoding it, when it is finite and has at most 18 digits; false (nothing written)
    /// otherwise.
    func numericText(_ text: UnsafeRawBufferPointer, typeModifier: Int32, into out: inout [UInt8]) -> Bool {
        // A digit first, after the sign: NaN and the infinities are decoded.
        guard options.decimalHandling != .double, let first = text.first,
            let lead = first == 0x2D ? text.dropFirst().first : first, (0x30...0x39).contains(lead)
        else { return false }
        if options.decimalHandling == .string {
            JSONWriter.appendString(text, to: &out)
            return true
        }
        var unscaled: Int64 = 0
        var digits = 0
        var scale = -1
        for byte in text.dropFirst(first == 0x2D ? 1 : 0) {
            if byte == 0x2E {
                guard scale < 0 else { return false }
                scale = 0
                continue
            }
            guard byte & 0xF0 == 0x30, byte <= 0x39 else { return false }
            if unscaled != 0 || byte != 0x30 { digits += 1 }
            guard digits <= 18 else { return false }
            unscaled = unscaled * 10 + Int64(byte - 0x30)
            if scale >= 0 { scale += 1 }
        }
        scale = max(scale, 0)
        let declared = Self.numericScale(typeModifier)
        if let declared {
            guard declared == scale else { return false }
        } else {
            while scale > 0, unscaled != 0, unscaled % 10 == 0 {
                unscaled /= 10
                scale -= 1
            }
            if unscaled == 0 { scale = 0 }
        }
        if first == 0x2D { unscaled = -unscaled }
        Self.decimal(Self.twosComplement(unscaled), variableScale: declared == nil ? scale : nil, into: &out)
        return true
    }

    /// The shortest big-endian two's-complement bytes of `value` (Java's
    /// `BigInteger.toByteArray`).
    static func twosComplement(_ value: Int64) -> [UInt8] {
        var length = 8
        while length > 1 {
            let top = value >> (8 * (length - 1) - 1)
            guard top == 0 || top == -1 else { break }
            length -= 1
        }
        return (0..<length).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    /// A timestamptz's text in UTC (`2024-02-29 13:14:15.5+00`, years 1000 to 9999) as
    /// ``appendISOTimestamp(_:digits:into:)`` writes it, without decoding it; false (nothing
    /// written) for any other text.
    static func timestamptzText(_ text: UnsafeRawBufferPointer, digits: Int, into out: inout [UInt8]) -> Bool {
        // YYYY-MM-DD HH:MM:SS, then an optional fraction, then +00.
        let count = text.count
        guard count >= 22, count <= 29, text[count - 3] == 0x2B, text[count - 2] == 0x30, text[count - 1] == 0x30,
            text[4] == 0x2D, text[7] == 0x2D, text[10] == 0x20, text[13] == 0x3A, text[16] == 0x3A,
            text[0] != 0x30
        else { return false }
        for index in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18] where !(0x30...0x39).contains(text[index]) {
            return false
        }
        var fraction = 0
        if count > 22 {
            guard text[19] == 0x2E, count - 23 <= min(digits, 6) else { return false }
            fraction = count - 23
            for index in 20..<(count - 3) where !(0x30...0x39).contains(text[index]) { return false }
        }
        out.append(0x22)
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[0..<10]))
        out.append(0x54)
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[11..<19]))
        if digits > 0 {
            out.append(0x2E)
            if fraction > 0 { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[20..<(20 + fraction)])) }
            for _ in fraction..<min(digits, 6) { out.append(0x30) }
        }
        out.append(0x5A)
        out.append(0x22)
        return true
    }

    /// A text array's text (`{a,b,NULL}`) as a JSON array, without decoding it, when no
    /// element is quoted (no element has a quote, a backslash, a comma, braces or spaces, or is
    /// empty) and it has one dimension; false (nothing written) otherwise.
    static func textArrayText(_ text: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        guard text.count >= 2, text.first == 0x7B, text.last == 0x7D else { return false }
        let inner = UnsafeRawBufferPointer(rebasing: text[1..<(text.count - 1)])
        for byte in inner where byte == 0x22 || byte == 0x5C || byte == 0x7B || byte == 0x7D { return false }
        out.append(0x5B)
        if !inner.isEmpty {
            var start = 0
            var first = true
            for end in 0...inner.count where end == inner.count || inner[end] == 0x2C {
                let element = UnsafeRawBufferPointer(rebasing: inner[start..<end])
                if !first { out.append(0x2C) }
                first = false
                if element.count == 4, element[0] == 0x4E, element[1] == 0x55, element[2] == 0x4C, element[3] == 0x4C {
                    JSONWriter.append("null", to: &out)
                } else {
                    JSONWriter.appendString(element, to: &out)
                }
                start = end + 1
            }
        }
        out.append(0x5D)
        return true
    }

    /// `money`: a decimal of scale 2 in the decimal mode.
    private func money(cents: Int64, into out: inout [UInt8]) {
        switch options.decimalHandling {
        case .string:
            let magnitude = cents.magnitude
            let fraction = magnitude % 100
            JSONWriter.appendString(
                (cents < 0 ? "-" : "") + String(magnitude / 100) + (fraction < 10 ? ".0" : ".") + String(fraction),
                to: &out)
        case .double: out += Array(String(Double(cents) / 100).utf8)
        case .precise: JSONWriter.appendBase64String(Self.twosComplement(cents), to: &out)
        }
    }

    /// The shortest big-endian two's-complement bytes of a decimal integer (Java's
    /// `BigInteger.toByteArray`). The digits are taken nine at a time into 32-bit limbs, so a
    /// numeric of 131072 digits (the most PostgreSQL has) takes a fraction of a second.
    static func twosComplement(digits: [UInt8], negative: Bool) -> [UInt8] {
        // Base-2^32 magnitude, least significant limb first.
        var limbs: [UInt32] = []
        var index = 0
        var length = digits.count % 9 == 0 ? 9 : digits.count % 9
        while index < digits.count {
            var chunk: UInt64 = 0
            var multiplier: UInt64 = 1
            for digit in digits[index..<index + length] {
                chunk = chunk * 10 + UInt64(digit)
                multiplier *= 10
            }
            var carry = chunk
            for limb in limbs.indices {
                let value = UInt64(limbs[limb]) * multiplier + carry
                limbs[limb] = UInt32(truncatingIfNeeded: value)
                carry = value >> 32
            }
            while carry > 0 {
                limbs.append(UInt32(truncatingIfNeeded: carry))
                carry >>= 32
            }
            index += length
            length = 9
        }
        var magnitude: [UInt8] = []
        magnitude.reserveCapacity(limbs.count * 4 + 1)
        for limb in limbs {
            for shift in stride(from: 0, to: 32, by: 8) { magnitude.append(UInt8(truncatingIfNeeded: limb >> shift)) }
        }
        while magnitude.count > 1, magnitude.last == 0 { magnitude.removeLast() }
        if magnitude.isEmpty || magnitude == [0] { return [0] }
        var bytes = magnitude
        if negative {
            // Invert and add one.
            var carry: UInt16 = 1
            for index in bytes.indices {
                let value = UInt16(~bytes[index]) + carry
                bytes[index] = UInt8(value & 0xFF)
                carry = value >> 8
            }
            if bytes.last.map({ $0 & 0x80 == 0 }) ?? true { bytes.append(0xFF) }
            while bytes.count > 1, bytes[bytes.count - 1] == 0xFF, bytes[bytes.count - 2] & 0x80 != 0 {
                bytes.removeLast()
            }
        } else if bytes.last.map({ $0 & 0x80 != 0 }) ?? false {
            bytes.append(0)
        }
        return bytes.reversed()
    }

    // MARK: - Bytes

    /// `bytea` (and a logical message's content) under `binary.handling.mode`.
    func binary(_ bytes: [UInt8], into out: inout [UInt8]) {
        switch options.binaryHandling {
        case .bytes, .base64: JSONWriter.appendBase64String(bytes, to: &out)
        case .base64URLSafe:
            let text = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            JSONWriter.appendString(text, to: &out)
        case .hex: JSONWriter.appendString(bytes.lowercaseHex, to: &out)
        }
    }

    // MARK: - Times

    static func precision(_ column: RelationColumn) -> Int {
        column.typeModifier >= 0 ? Int(column.typeModifier) : 6
    }

    /// io.debezium.time.Date: days since 1970-01-01; the infinities as Debezium's stream writes
    /// them.
    static func epochDays(_ date: PGDate) -> Int64 {
        if date == .infinity { return -2_147_472_692 }
        if date == .negativeInfinity { return -2_147_472_691 }
        return Int64(date.rawValue) + 10_957
    }

    /// `time`: milliseconds or microseconds since midnight, as `time.precision.mode` says.
    private func time(_ micros: Int64, _ column: RelationColumn, into out: inout [UInt8]) {
        let milliseconds: Bool
        switch options.timePrecision {
        case .adaptive: milliseconds = Self.precision(column) <= 3
        case .adaptiveTimeMicroseconds: milliseconds = false
        case .connect: milliseconds = true
        }
        JSONWriter.appendNumber(milliseconds ? micros / 1000 : micros, to: &out)
    }

    /// `timestamp`: milliseconds or microseconds since the epoch; the infinities as Debezium's
    /// sentinels, a value past the microseconds' range at its end.
    private func timestamp(_ time: PostgresTimestamp, _ column: RelationColumn, into out: inout [UInt8]) {
        let milliseconds = options.timePrecision == .connect || Self.precision(column) <= 3
        if time == .infinity {
            JSONWriter.appendNumber(milliseconds ? 9_223_372_036_825_200 : 9_223_372_036_825_200_000, to: &out)
        } else if time == .negativeInfinity {
            JSONWriter.appendNumber(milliseconds ? -9_223_372_036_832_400 : -9_223_372_036_832_400_000, to: &out)
        } else if milliseconds {
            let (micros, overflow) = time.rawValue.addingReportingOverflow(
                PostgresTimestamp.postgresEpochOffsetSeconds * 1_000_000)
            let exact =
                overflow
                ? (time.rawValue / 1000 + PostgresTimestamp.postgresEpochOffsetSeconds * 1000)
                : Self.floorDivide(micros, 1000)
            JSONWriter.appendNumber(exact, to: &out)
        } else {
            JSONWriter.appendNumber(Self.unixMicroseconds(time), to: &out)
        }
    }

    /// Microseconds since the Unix epoch, at Int64's ends past them.
    static func unixMicroseconds(_ time: PostgresTimestamp) -> Int64 {
        let (micros, overflow) = time.rawValue.addingReportingOverflow(
            PostgresTimestamp.postgresEpochOffsetSeconds * 1_000_000)
        return overflow ? (time.rawValue < 0 ? .min : .max) : micros
    }

    /// Rounded towards minus infinity; defined for every value and a positive divisor.
    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? quotient - 1 : quotient
    }

    /// `interval` under `interval.handling.mode`.
    private func interval(_ interval: PGInterval, into out: inout [UInt8]) {
        switch options.intervalHandling {
        case .numeric: JSONWriter.appendNumber(Self.microDuration(interval), to: &out)
        case .string: JSONWriter.appendString(Self.isoDuration(interval), to: &out)
        }
    }

    /// io.debezium.time.MicroDuration: the interval in microseconds, a month as 30.4375 days,
    /// computed in floating point and converted as Java's `(long)` cast does: towards zero, and
    /// saturated at the ends of the range (`'178000000 years'` is 9223372036854775807).
    static func microDuration(_ interval: PGInterval) -> Int64 {
        let micros =
            Double(interval.months) * 30.4375 * 86_400_000_000 + Double(interval.days) * 86_400_000_000
            + Double(interval.microseconds)
        return javaLong(micros)
    }

    /// io.debezium.time.Interval: `P…Y…M…DT…H…M…S`, each part with its own sign, the seconds
    /// with their fraction.
    static func isoDuration(_ interval: PGInterval) -> String {
        let years = interval.months / 12
        let months = interval.months % 12
        let micros = interval.microseconds
        let hours = micros / 3_600_000_000
        let minutes = micros % 3_600_000_000 / 60_000_000
        let secondsMicros = micros % 60_000_000
        var seconds = (secondsMicros < 0 ? "-" : "") + String(secondsMicros.magnitude / 1_000_000)
        let fraction = secondsMicros.magnitude % 1_000_000
        if fraction > 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 6 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            seconds += "." + digits
        }
        return "P\(years)Y\(months)M\(interval.days)DT\(hours)H\(minutes)M\(seconds)S"
    }

    /// Java's `(long)` of a double: NaN is 0, values past the range are its ends, others are cut
    /// towards zero.
    static func javaLong(_ value: Double) -> Int64 {
        if value.isNaN { return 0 }
        // 2^63 is the first double past Int64.max.
        if value >= 9_223_372_036_854_775_808.0 { return .max }
        if value <= -9_223_372_036_854_775_808.0 { return .min }
        return Int64(value)
    }

    /// `HH:MM:SS` and the fraction: `digits` of it, or (nil) without trailing zeros.
    static func isoClock(_ micros: Int64, digits: Int?) -> String {
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = "\(two(micros / 3_600_000_000)):\(two(micros / 60_000_000 % 60)):\(two(micros / 1_000_000 % 60))"
        let fraction = micros % 1_000_000
        var shown = String(fraction)
        shown = String(repeating: "0", count: 6 - shown.count) + shown
        if let digits {
            if digits > 0 { text += "." + shown.prefix(min(digits, 6)) }
        } else if fraction > 0 {
            while shown.hasSuffix("0") { shown.removeLast() }
            text += "." + shown
        }
        return text
    }

    /// ``isoTimestamp(_:digits:)`` as a JSON string, its digits written straight into the
    /// buffer (the commonest timestamps: years 1 to 9999).
    static func appendISOTimestamp(_ time: PostgresTimestamp, digits: Int, into out: inout [UInt8]) {
        let day: Int64 = 86_400_000_000
        let days = floorDivide(time.rawValue, day)
        guard time != .infinity, time != .negativeInfinity,
            let (year, month, dayOfMonth) = PGDate(rawValue: Int32(truncatingIfNeeded: days)).components,
            (1...9999).contains(year)
        else {
            JSONWriter.appendString(isoTimestamp(time, digits: digits), to: &out)
            return
        }
        let clock = time.rawValue - days * day
        func put(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(0x30 &+ UInt8(truncatingIfNeeded: rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        out.append(0x22)
        put(year, 4)
        out.append(0x2D)
        put(month, 2)
        out.append(0x2D)
        put(dayOfMonth, 2)
        out.append(0x54)
        let seconds = Int(clock / 1_000_000)
        put(seconds / 3600, 2)
        out.append(0x3A)
        put(seconds / 60 % 60, 2)
        out.append(0x3A)
        put(seconds % 60, 2)
        if digits > 0 {
            out.append(0x2E)
            let shown = min(digits, 6)
            var fraction = Int(clock % 1_000_000)
            for _ in shown..<6 { fraction /= 10 }
            put(fraction, shown)
        }
        out.append(0x5A)
        out.append(0x22)
    }

    /// `2024-02-29T13:14:15.500Z` for `timestamptz(3)`; a year past 9999 with its sign, as
    /// Java's ISO format writes it.
    static func isoTimestamp(_ time: PostgresTimestamp, digits: Int) -> String {
        if time == .infinity { return "infinity" }
        if time == .negativeInfinity { return "-infinity" }
        let day: Int64 = 86_400_000_000
        let days = floorDivide(time.rawValue, day)
        let clock = time.rawValue - days * day
        let date = PGDate(rawValue: Int32(truncatingIfNeeded: days))
        guard let (year, month, dayOfMonth) = date.components else { return time.postgresText(utcOffset: 0) }
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(abs(value))
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let yearText = year < 0 ? "-" + pad(year, 4) : year > 9999 ? "+" + pad(year, 4) : pad(year, 4)
        return "\(yearText)-\(pad(month, 2))-\(pad(dayOfMonth, 2))T\(isoClock(clock, digits: digits))Z"
    }

    // MARK: - Types pgrepl keeps as they came

    /// Types without a ``PGValue`` case: `money`, `bit`, `varbit`, `point`, `hstore` and domains
    /// have Debezium mappings of their own; enums and the rest are their text.
    private func raw(_ raw: PGRawValue, _ column: RelationColumn, into out: inout [UInt8]) {
        let text = raw.format == .text ? raw.string : nil
        switch raw.type {
        case .money:
            if let cents = text.flatMap(Self.moneyCents) ?? (raw.format == .binary ? Self.bigEndian(raw.bytes) : nil) {
                money(cents: cents, into: &out)
                return
            }
        case .bit, .varbit:
            if let bits = text.map({ Array($0.utf8).map { $0 == 0x31 } }) ?? Self.binaryBits(raw.bytes) {
                if raw.type == .bit, column.typeModifier == 1 {
                    JSONWriter.append(bits.first == true ? "true" : "false", to: &out)
                } else {
                    JSONWriter.appendBase64String(Self.bitBytes(bits), to: &out)
                }
                return
            }
        case .point:
            if let (x, y) = text.flatMap(Self.point) ?? Self.binaryPoint(raw.bytes) {
                point(x, y, into: &out)
                return
            }
        default:
            break
        }
        JSONWriter.appendString(raw.description, to: &out)
    }

    /// `$1,234.56`, `-$0.50` (any currency sign and grouping): cents.
    static func moneyCents(_ text: String) -> Int64? {
        var negative = false
        var magnitude: UInt64 = 0
        var fraction = -1
        for character in text.utf8 {
            switch character {
            case 0x2D, 0x28: negative = true
            case 0x30...0x39:
                let (times, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(UInt64(character - 0x30))
                if o1 || o2 { return nil }
                magnitude = sum
                if fraction >= 0 { fraction += 1 }
            case 0x2E: fraction = 0
            default: break
            }
        }
        let scale = max(fraction, 0)
        guard scale <= 2 else { return nil }
        for _ in scale..<2 {
            let (times, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            if overflow { return nil }
            magnitude = times
        }
        // money's range is Int64's, its least value included.
        if negative { return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    static func bigEndian(_ bytes: [UInt8]) -> Int64? {
        guard bytes.count == 8 else { return nil }
        return bytes.reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }

    /// A bit string's binary form: its length, then its bits, the first in the high bit.
    static func binaryBits(_ bytes: [UInt8]) -> [Bool]? {
        guard bytes.count >= 4 else { return nil }
        let count = Int(bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        guard count <= (bytes.count - 4) * 8 else { return nil }
        return (0..<count).map { bytes[4 + $0 / 8] & (0x80 >> ($0 % 8)) != 0 }
    }

    /// io.debezium.data.Bits: the bit string as a number (its first bit the highest), in bytes
    /// from the lowest, without the high zero bytes (Java's `BitSet.toByteArray`).
    static func bitBytes(_ bits: [Bool]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: (bits.count + 7) / 8)
        for (index, bit) in bits.reversed().enumerated() where bit { bytes[index / 8] |= 1 << (index % 8) }
        while bytes.last == 0 { bytes.removeLast() }
        return bytes
    }

    /// `(1.5,-2)`.
    static func point(_ text: String) -> (Double, Double)? {
        let parts = text.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: ",")
        guard parts.count == 2, let x = Double(parts[0]), let y = Double(parts[1]) else { return nil }
        return (x, y)
    }

    static func binaryPoint(_ bytes: [UInt8]) -> (Double, Double)? {
        guard bytes.count == 16 else { return nil }
        func double(_ at: Int) -> Double {
            Double(bitPattern: bytes[at..<at + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        }
        return (double(0), double(8))
    }

    /// io.debezium.data.geometry.Point: `x`, `y`, the point's WKB (little-endian), and no SRID.
    private func point(_ x: Double, _ y: Double, into out: inout [UInt8]) {
        var wkb: [UInt8] = [1, 1, 0, 0, 0]
        withUnsafeBytes(of: x.bitPattern.littleEndian) { wkb += $0 }
        withUnsafeBytes(of: y.bitPattern.littleEndian) { wkb += $0 }
        JSONWriter.append("{\"x\":", to: &out)
        out += Array(Self.javaDouble(x).utf8)
        JSONWriter.append(",\"y\":", to: &out)
        out += Array(Self.javaDouble(y).utf8)
        JSONWriter.append(",\"wkb\":", to: &out)
        JSONWriter.appendBase64String(wkb, to: &out)
        JSONWriter.append(",\"srid\":null}", to: &out)
    }

    /// A finite double as a JSON number with a fraction (`-2.0`), as Jackson writes doubles.
    static func javaDouble(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        return value.description
    }

    /// An hstore map: a JSON document in a string (its keys in the order Java's `HashMap`
    /// gives them, as Debezium's), or a JSON object.
    private func hstoreValue(_ pairs: [(String, String?)], into out: inout [UInt8]) {
        var object: [UInt8] = [0x7B]
        let ordered = options.hstoreHandling == .json ? Self.javaHashMapOrder(pairs) : pairs
        for (index, (key, value)) in ordered.enumerated() {
            if index > 0 { object.append(0x2C) }
            JSONWriter.appendString(key, to: &object)
            object.append(0x3A)
            if let value { JSONWriter.appendString(value, to: &object) } else { JSONWriter.append("null", to: &object) }
        }
        object.append(0x7D)
        if options.hstoreHandling == .json {
            JSONWriter.appendString(object, to: &out)
        } else {
            out += object
        }
    }

    /// The iteration order of a `java.util.HashMap` filled with `pairs` in order: by bucket
    /// (the spread `String.hashCode` masked by the table's size), then by insertion.
    static func javaHashMapOrder(_ pairs: [(String, String?)]) -> [(String, String?)] {
        var capacity = 16
        while Double(pairs.count) > Double(capacity) * 0.75 { capacity *= 2 }
        func bucket(_ key: String) -> Int {
            var hash: Int32 = 0
            for unit in key.utf16 { hash = hash &* 31 &+ Int32(unit) }
            let spread = UInt32(bitPattern: hash) ^ (UInt32(bitPattern: hash) >> 16)
            return Int(spread & UInt32(capacity - 1))
        }
        var seen: [String: Int] = [:]
        var unique: [(String, String?)] = []
        for (key, value) in pairs {
            if let at = seen[key] {
                unique[at].1 = value
            } else {
                seen[key] = unique.count
                unique.append((key, value))
            }
        }
        return unique.enumerated().sorted { (bucket($0.element.0), $0.offset) < (bucket($1.element.0), $1.offset) }
            .map(\.element)
    }
}

extension DebeziumValues {
    /// `"a"=>"1", "b"=>NULL`: the pairs in order.
    static func hstorePairs(_ text: String) -> [(String, String?)]? {
        var pairs: [(String, String?)] = []
        var bytes = Array(text.utf8)[...]
        func skipSpaces() { while let first = bytes.first, first == 0x20 || first == 0x2C { bytes.removeFirst() } }
        func quoted() -> String? {
            guard bytes.first == 0x22 else { return nil }
            bytes.removeFirst()
            var value: [UInt8] = []
            while let byte = bytes.popFirst() {
                if byte == 0x5C, let next = bytes.popFirst() {
                    value.append(next)
                } else if byte == 0x22 {
                    return String(decoding: value, as: UTF8.self)
                } else {
                    value.append(byte)
                }
            }
            return nil
        }
        skipSpaces()
        while !bytes.isEmpty {
            guard let key = quoted() else { return nil }
            guard bytes.starts(with: Array("=>".utf8)) else { return nil }
            bytes.removeFirst(2)
            if bytes.starts(with: Array("NULL".utf8)) {
                bytes.removeFirst(4)
                pairs.append((key, nil))
            } else {
                guard let value = quoted() else { return nil }
                pairs.append((key, value))
            }
            skipSpaces()
        }
        return pairs
    }

    /// hstore's binary form: the count, then each key and value with its length (-1: NULL).
    static func binaryHstorePairs(_ bytes: [UInt8]) -> [(String, String?)]? {
        var at = 0
        func int32() -> Int32? {
            guard at + 4 <= bytes.count else { return nil }
            defer { at += 4 }
            return Int32(bitPattern: bytes[at..<at + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        }
        func text(_ length: Int32) -> String? {
            guard length >= 0, at + Int(length) <= bytes.count else { return nil }
            defer { at += Int(length) }
            return String(decoding: bytes[at..<at + Int(length)], as: UTF8.self)
        }
        guard let count = int32(), count >= 0 else { return nil }
        var pairs: [(String, String?)] = []
        for _ in 0..<count {
            guard let keyLength = int32(), let key = text(keyLength), let valueLength = int32() else { return nil }
            if valueLength < 0 {
                pairs.append((key, nil))
            } else {
                guard let value = text(valueLength) else { return nil }
                pairs.append((key, value))
            }
        }
        return pairs
    }
}
