/// Text and binary decoding of `timestamp` and `timestamptz` column values.
///
/// Both types are carried by ``PostgresTimestamp``: for `timestamptz` the microseconds count from
/// 2000-01-01 00:00:00 UTC; for `timestamp` (without time zone) they count from that wall-clock
/// time with no zone attached.
extension PostgresTimestamp {
    /// Text: `infinity`, `-infinity` or `YYYY-MM-DD HH:MM:SS[.ffffff]`, followed for `timestamptz`
    /// by `±HH[:MM[:SS]]`, then ` BC` for years before 1.
    static func decodeText(_ reader: inout ValueReader, withZone: Bool) throws(PGValueDecodingError)
        -> PostgresTimestamp
    {
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

    /// Binary: Int64 microseconds since 2000-01-01 (`Int64.max` / `Int64.min` are the infinities).
    static func decodeBinary(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PostgresTimestamp {
        let value = try reader.readInteger(as: Int64.self)
        try reader.expectEnd()
        return PostgresTimestamp(rawValue: value)
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
