#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A PostgreSQL `date`: days since 2000-01-01 in the proleptic Gregorian calendar, or
/// `infinity` / `-infinity`.
///
/// Binary layout: Int32 days since 2000-01-01; `Int32.max` is `infinity`, `Int32.min` is
/// `-infinity`. Text: `YYYY-MM-DD`, with ` BC` for years before 1 (DateStyle ISO).
///
/// ```swift
/// let date = PGDate(year: 2024, month: 2, day: 29)
/// date?.description   // "2024-02-29"
/// ```
public struct PGDate: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Days since 2000-01-01.
    public var rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `infinity`.
    public static let infinity = PGDate(rawValue: .max)
    /// `-infinity`.
    public static let negativeInfinity = PGDate(rawValue: .min)

    /// Days since 2000-01-01.
    public var daysSince2000: Int32 { rawValue }

    /// Whether this is `infinity` or `-infinity`.
    public var isInfinite: Bool { rawValue == .max || rawValue == .min }

    /// The date with these calendar fields, or `nil` when they are not a valid date or are out of
    /// range. `year` is astronomical: 0 is 1 BC, -1 is 2 BC.
    public init?(year: Int, month: Int, day: Int) {
        guard let days = PGDate.daysSince2000(year: year, month: month, day: day), let value = Int32(exactly: days),
            value != .max, value != .min
        else { return nil }
        self.rawValue = value
    }

    /// The calendar fields of a finite date (`year` astronomical: 0 is 1 BC); `nil` for the
    /// infinities.
    public var components: (year: Int, month: Int, day: Int)? {
        isInfinite ? nil : PGDate.civil(fromDaysSince2000: Int64(rawValue))
    }

    /// Midnight UTC of this date (`.distantFuture` / `.distantPast` for the infinities).
    public var date: Date {
        if rawValue == .max { return .distantFuture }
        if rawValue == .min { return .distantPast }
        return Date(timeIntervalSince1970: (Double(rawValue) + 10_957) * 86_400)
    }

    public static func < (lhs: PGDate, rhs: PGDate) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `YYYY-MM-DD`, `YYYY-MM-DD BC`, `infinity` or `-infinity`, as PostgreSQL prints it.
    public var description: String {
        guard let (year, month, day) = components else { return rawValue == .max ? "infinity" : "-infinity" }
        return PGDate.render(year: year, month: month, day: day, suffixBC: true)
    }

    // MARK: - Calendar arithmetic (proleptic Gregorian, astronomical years)

    /// Days from 2000-01-01 to the given date; `nil` for invalid fields.
    static func daysSince2000(year: Int, month: Int, day: Int) -> Int64? {
        guard month >= 1, month <= 12, day >= 1, day <= daysInMonth(year: year, month: month),
            year > -10_000_000, year < 10_000_000
        else { return nil }
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468 - 10_957
    }

    /// The calendar date `days` after 2000-01-01.
    static func civil(fromDaysSince2000 days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 10_957 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// `YYYY-MM-DD` (year at least four digits, BC years shown as positive); ` BC` appended when
    /// `suffixBC` and the year is before 1.
    static func render(year: Int, month: Int, day: Int, suffixBC: Bool) -> String {
        let shownYear = year <= 0 ? 1 - year : year
        var text = pad(shownYear, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
        if suffixBC, year <= 0 { text += " BC" }
        return text
    }

    static func pad(_ value: some BinaryInteger, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    // MARK: - Wire formats

    /// Text: `infinity`, `-infinity` or `YYYY-MM-DD[ BC]`.
    static func decodeText(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGDate {
        if reader.isExactly("infinity") { return .infinity }
        if reader.isExactly("-infinity") { return .negativeInfinity }
        let start = reader.offset
        let (year, month, day) = try readYearMonthDay(&reader)
        let bc = reader.consume(" BC")
        try reader.expectEnd()
        guard let date = PGDate(year: bc ? 1 - year : year, month: month, day: day) else {
            throw reader.error("a date within PostgreSQL's range", at: start)
        }
        return date
    }

    /// Reads `YYYY-MM-DD` (the year may have more than four digits), validating month and day.
    static func readYearMonthDay(
        _ reader: inout ValueReader
    ) throws(PGValueDecodingError)
        -> (year: Int, month: Int, day: Int)
    {
        let start = reader.offset
        let (year, yearDigits) = try reader.readDigits(max: 8)
        guard yearDigits >= 4 else { throw reader.error("a year of at least four digits", at: start) }
        try reader.expect(UInt8(ascii: "-"))
        let monthStart = reader.offset
        let month = Int(try reader.readFixedDigits(2))
        try reader.expect(UInt8(ascii: "-"))
        let day = Int(try reader.readFixedDigits(2))
        guard month >= 1, month <= 12 else { throw reader.error("a month from 01 to 12", at: monthStart) }
        // February 29 is checked by the caller, which knows the year: ` BC` after the date makes
        // 4713 (not a leap year) the astronomical year -4712 (a leap year).
        guard day >= 1, day <= daysInMonth(year: 2000, month: month) else {
            throw reader.error("a day that exists in the month", at: monthStart + 3)
        }
        return (Int(year), month, day)
    }

    /// Binary: Int32 days since 2000-01-01.
    static func decodeBinary(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGDate {
        let days = try reader.readInteger(as: Int32.self)
        try reader.expectEnd()
        return PGDate(rawValue: days)
    }
}
