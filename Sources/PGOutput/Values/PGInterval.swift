/// A PostgreSQL `interval`: months, days and microseconds, kept apart as PostgreSQL does (a month
/// is not a fixed number of days, nor a day a fixed number of hours across DST changes).
///
/// Binary layout: Int64 microseconds, Int32 days, Int32 months. Text (IntervalStyle `postgres`):
/// `1 year 2 mons 3 days 04:05:06.789`, `-1 years -2 mons +3 days -04:05:06.5`, `00:00:00`.
public struct PGInterval: Hashable, Sendable, CustomStringConvertible {
    /// Months (a year is 12 months).
    public var months: Int32
    /// Days.
    public var days: Int32
    /// Microseconds.
    public var microseconds: Int64

    public init(months: Int32 = 0, days: Int32 = 0, microseconds: Int64 = 0) {
        self.months = months
        self.days = days
        self.microseconds = microseconds
    }

    /// The interval as PostgreSQL prints it with IntervalStyle `postgres`.
    public var description: String {
        var parts: [String] = []
        var previousNegative = false
        func addPart(_ value: Int64, _ unit: String) {
            guard value != 0 else { return }
            parts.append((previousNegative && value > 0 ? "+" : "") + "\(value) \(unit)" + (value != 1 ? "s" : ""))
            previousNegative = value < 0
        }
        addPart(Int64(months / 12), "year")
        addPart(Int64(months % 12), "mon")
        addPart(Int64(days), "day")
        if microseconds != 0 || parts.isEmpty {
            let sign = microseconds < 0 ? "-" : (previousNegative ? "+" : "")
            parts.append(sign + PGTime.renderClock(Int64(truncatingIfNeeded: microseconds.magnitude)))
        }
        return parts.joined(separator: " ")
    }

    // MARK: - Wire formats

    /// Text (IntervalStyle `postgres`): space-separated `[+-]N year(s)`, `[+-]N mon(s)`,
    /// `[+-]N day(s)` and `[+-]H:MM:SS[.ffffff]` parts, each at most once, in that order.
    static func decodeText(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGInterval {
        var months: Int32 = 0
        var days: Int32 = 0
        var micros: Int64 = 0
        var stage = 0  // 1 years, 2 months, 3 days, 4 time: parts must come in this order
        repeat {
            if stage > 0 { try reader.expect(UInt8(ascii: " ")) }
            let partStart = reader.offset
            let negative = reader.consume(UInt8(ascii: "-"))
            if !negative { _ = reader.consume(UInt8(ascii: "+")) }
            let (number, _) = try reader.readDigits(max: 18)
            let signed = negative ? -number : number
            if reader.consume(UInt8(ascii: ":")) {
                guard stage < 4 else { throw reader.error("one time part", at: partStart) }
                let minute = try reader.readFixedDigits(2)
                try reader.expect(UInt8(ascii: ":"))
                let second = try reader.readFixedDigits(2)
                let fraction = try reader.readMicrosecondFraction()
                let (hourMicros, overflow1) = number.multipliedReportingOverflow(by: 3_600_000_000)
                let (total, overflow2) = hourMicros.addingReportingOverflow(
                    (minute * 60 + second) * 1_000_000 + fraction)
                guard !overflow1, !overflow2, minute < 60, second < 60 else {
                    throw reader.error("a time part within range", at: partStart)
                }
                micros = negative ? -total : total
                stage = 4
                continue
            }
            try reader.expect(UInt8(ascii: " "))
            let unitStart = reader.offset
            let newStage: Int
            let multiplier: Int64
            if reader.consume("years") || reader.consume("year") {
                (newStage, multiplier) = (1, 12)
            } else if reader.consume("mons") || reader.consume("mon") {
                (newStage, multiplier) = (2, 1)
            } else if reader.consume("days") || reader.consume("day") {
                (newStage, multiplier) = (3, 1)
            } else {
                throw reader.error("a unit: year(s), mon(s) or day(s)")
            }
            guard newStage > stage else {
                throw reader.error("units in the order years, mons, days, time", at: unitStart)
            }
            stage = newStage
            let (scaled, overflow) = signed.multipliedReportingOverflow(by: multiplier)
            guard !overflow, let value = Int32(exactly: scaled) else {
                throw reader.error("a value within the 32-bit range", at: partStart)
            }
            if newStage == 3 {
                days = value
            } else {
                let (sum, overflow) = months.addingReportingOverflow(value)
                guard !overflow else { throw reader.error("a month count within the 32-bit range", at: partStart) }
                months = sum
            }
        } while !reader.isAtEnd
        return PGInterval(months: months, days: days, microseconds: micros)
    }

    /// Binary: Int64 microseconds, Int32 days, Int32 months.
    static func decodeBinary(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGInterval {
        let micros = try reader.readInteger(as: Int64.self)
        let days = try reader.readInteger(as: Int32.self)
        let months = try reader.readInteger(as: Int32.self)
        try reader.expectEnd()
        return PGInterval(months: months, days: days, microseconds: micros)
    }
}
