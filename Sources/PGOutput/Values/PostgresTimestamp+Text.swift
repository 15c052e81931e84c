/// Text and binary decoding of `timestamp` and `timestamptz` column values.
///
/// Both types are carried by ``PostgresTimestamp``: for `timestamptz` the microseconds count from
/// 2000-01-01 00:00:00 UTC; for `timestamp` (without time zone) they count from that wall-clock
/// time with no zone attached.
extension PostgresTimestamp {
    /// Text: `infinity`, `-infinity` or `YYYY-MM-DD HH:MM:SS[.ffffff]`, followed for `timestamptz`
    /// by `±HH[:MM[:SS]]`, then ` BC` for years before 1.
    static func decodeText(
        _ reader: inout ValueReader, withZone: Bool
    ) throws(PGValueDecodingError)
        -> PostgresTimestamp
    {
        if let value = decodeISO(reader.bytes, withZone: withZone) {
            reader.offset = reader.bytes.count
            return value
        }
        if reader.isExactly("infinity") { return .infinity }
        if reader.isExactly("-infinity") { return .negativeInfinity }
        let start = reader.offset
        let (year, month, day) = try PGDate.readYearMonthDay(&reader)
        try reader.expect(UInt8(ascii: " "))
        let clock = try PGTime.readClock(&reader)
        let offset = withZone ? try PGTimeTZ.readOffset(&reader) : 0
        let bc = reader.consume(" BC")
        try reader.expectEnd()
        guard let days = PGDate.daysSince2000(year: bc ? 1 - year : year, month: month, day: day) else {
            throw reader.error("a valid date", at: start)
        }
        let (dayMicros, overflow1) = days.multipliedReportingOverflow(by: 86_400_000_000)
        let (local, overflow2) = dayMicros.addingReportingOverflow(clock)
        let (utc, overflow3) = local.subtractingReportingOverflow(Int64(offset) * 1_000_000)
        guard !overflow1, !overflow2, !overflow3, utc != .max, utc != .min else {
            throw reader.error("a timestamp within PostgreSQL's range", at: start)
        }
        return PostgresTimestamp(rawValue: utc)
    }

    /// The form the server prints with its default settings, read at fixed positions:
    /// `YYYY-MM-DD HH:MM:SS[.f{1,6}]` and, for `timestamptz`, `±HH[:MM]`. Anything else (other
    /// years, ` BC`, offset seconds, infinities, malformed text) returns `nil` and goes through
    /// the field-by-field parser, which accepts the same values and reports errors.
    @inline(__always)
    private static func decodeISO(_ bytes: UnsafeRawBufferPointer, withZone: Bool) -> PostgresTimestamp? {
        let count = bytes.count
        guard count >= 19 else { return nil }
        @inline(__always) func digit(_ index: Int) -> Int? {
            let value = bytes[index] &- UInt8(ascii: "0")
            return value < 10 ? Int(value) : nil
        }
        @inline(__always) func pair(_ index: Int) -> Int? {
            guard let high = digit(index), let low = digit(index &+ 1) else { return nil }
            return high &* 10 &+ low
        }
        guard let century = pair(0), let yearInCentury = pair(2), bytes[4] == UInt8(ascii: "-"),
            let month = pair(5), bytes[7] == UInt8(ascii: "-"), let day = pair(8), bytes[10] == UInt8(ascii: " "),
            let hour = pair(11), bytes[13] == UInt8(ascii: ":"), let minute = pair(14), bytes[16] == UInt8(ascii: ":"),
            let second = pair(17)
        else { return nil }
        var index = 19
        var micros = 0
        if index < count, bytes[index] == UInt8(ascii: ".") {
            index &+= 1
            var digits = 0
            while index < count, digits < 6, let value = digit(index) {
                micros = micros &* 10 &+ value
                digits &+= 1
                index &+= 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<6 { micros &*= 10 }
        }
        var offsetSeconds = 0
        if withZone {
            guard index &+ 3 <= count, let hours = pair(index &+ 1) else { return nil }
            let negative: Bool
            switch bytes[index] {
            case UInt8(ascii: "+"): negative = false
            case UInt8(ascii: "-"): negative = true
            default: return nil
            }
            index &+= 3
            var minutes = 0
            if index &+ 3 <= count, bytes[index] == UInt8(ascii: ":") {
                guard let value = pair(index &+ 1) else { return nil }
                minutes = value
                index &+= 3
            }
            guard hours <= 15, minutes < 60 else { return nil }
            offsetSeconds = negative ? -(hours &* 3600 &+ minutes &* 60) : hours &* 3600 &+ minutes &* 60
        }
        guard index == count, minute < 60, second < 60 else { return nil }
        let clock = Int64(((hour &* 60 &+ minute) &* 60 &+ second) &* 1_000_000 &+ micros)
        guard clock <= 86_400_000_000,
            let days = PGDate.daysSince2000(year: century &* 100 &+ yearInCentury, month: month, day: day)
        else { return nil }
        // Four-digit years: far from overflowing, and never the infinities' Int64.max / Int64.min.
        return PostgresTimestamp(rawValue: days &* 86_400_000_000 &+ clock &- Int64(offsetSeconds) &* 1_000_000)
    }

    /// Binary: Int64 microseconds since 2000-01-01 (`Int64.max` / `Int64.min` are the infinities).
    static func decodeBinary(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PostgresTimestamp {
        let value = try reader.readInteger(as: Int64.self)
        try reader.expectEnd()
        return PostgresTimestamp(rawValue: value)
    }

    /// A `timestamptz` in PostgreSQL's ISO text form as a session with a zone `offset` seconds
    /// east of UTC prints it: `2024-02-29 14:14:15.5+01`, `…+05:30`, `…-00:25:21` (PostgreSQL
    /// appends minutes and seconds only when they are not zero).
    public func postgresText(utcOffset offset: Int) -> String {
        if rawValue == .max { return "infinity" }
        if rawValue == .min { return "-infinity" }
        var text = PostgresTimestamp(rawValue: rawValue &+ Int64(offset) &* 1_000_000).postgresText(utc: false)
        let bc = text.hasSuffix(" BC")
        if bc { text.removeLast(3) }
        let magnitude = abs(offset)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        text += (offset < 0 ? "-" : "+") + two(magnitude / 3600)
        if magnitude % 3600 != 0 { text += ":" + two(magnitude / 60 % 60) }
        if magnitude % 60 != 0 { text += ":" + two(magnitude % 60) }
        return bc ? text + " BC" : text
    }

    /// PostgreSQL's ISO text form: `2024-02-29 13:14:15.5`, with `+00` appended when `utc` is set
    /// (the value rendered in UTC), ` BC` for years before 1, or `infinity` / `-infinity`.
    func postgresText(utc: Bool) -> String {
        if rawValue == .max { return "infinity" }
        if rawValue == .min { return "-infinity" }
        let perDay: Int64 = 86_400_000_000
        var days = rawValue / perDay
        var clock = rawValue % perDay
        if clock < 0 {
            days -= 1
            clock += perDay
        }
        let (year, month, day) = PGDate.civil(fromDaysSince2000: days)
        var text = PGDate.render(year: year, month: month, day: day, suffixBC: false) + " " + PGTime.renderClock(clock)
        if utc { text += "+00" }
        if year <= 0 { text += " BC" }
        return text
    }
}
