/// A PostgreSQL `time` (without time zone): microseconds since midnight, `0...86_400_000_000`
/// (`24:00:00` is allowed).
///
/// Binary layout: Int64 microseconds. Text: `HH:MM:SS[.ffffff]`.
public struct PGTime: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since midnight.
    public var rawValue: Int64

    public init(rawValue: Int64) { self.rawValue = rawValue }

    /// The time from its fields; `nil` when out of range.
    public init?(hour: Int, minute: Int, second: Int, microsecond: Int = 0) {
        guard hour >= 0, minute >= 0, minute < 60, second >= 0, second < 60, microsecond >= 0,
            microsecond < 1_000_000
        else { return nil }
        let value = ((Int64(hour) * 60 + Int64(minute)) * 60 + Int64(second)) * 1_000_000 + Int64(microsecond)
        guard value <= PGTime.microsecondsPerDay else { return nil }
        self.rawValue = value
    }

    static let microsecondsPerDay: Int64 = 86_400_000_000

    /// Microseconds since midnight.
    public var microsecondsSinceMidnight: Int64 { rawValue }

    public static func < (lhs: PGTime, rhs: PGTime) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `HH:MM:SS` plus the fraction without trailing zeros, as PostgreSQL prints it.
    public var description: String { PGTime.renderClock(rawValue) }

    /// `HH:MM:SS[.ffffff]` for a non-negative number of microseconds (hours may exceed 24).
    static func renderClock(_ micros: Int64) -> String {
        let magnitude = micros.magnitude
        let seconds = magnitude / 1_000_000
        var text =
            PGDate.pad(seconds / 3600, 2) + ":" + PGDate.pad(seconds / 60 % 60, 2) + ":"
            + PGDate.pad(seconds % 60, 2)
        var fraction = magnitude % 1_000_000
        if fraction != 0 {
            var width = 6
            while fraction % 10 == 0 {
                fraction /= 10
                width -= 1
            }
            text += "." + PGDate.pad(fraction, width)
        }
        return text
    }

    /// Reads `HH:MM:SS[.ffffff]` of a time of day.
    static func readClock(_ reader: inout ValueReader) throws(PGValueDecodingError) -> Int64 {
        let start = reader.offset
        let hour = try reader.readFixedDigits(2)
        try reader.expect(UInt8(ascii: ":"))
        let minute = try reader.readFixedDigits(2)
        try reader.expect(UInt8(ascii: ":"))
        let second = try reader.readFixedDigits(2)
        let fraction = try reader.readMicrosecondFraction()
        let value = ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction
        guard minute < 60, second < 60, value <= microsecondsPerDay else {
            throw reader.error("a time of day from 00:00:00 to 24:00:00", at: start)
        }
        return value
    }

    /// Text: `HH:MM:SS[.ffffff]`.
    static func decodeText(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGTime {
        let value = try readClock(&reader)
        try reader.expectEnd()
        return PGTime(rawValue: value)
    }

    /// Binary: Int64 microseconds since midnight.
    static func decodeBinary(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGTime {
        let value = try reader.readInteger(as: Int64.self)
        try reader.expectEnd()
        return PGTime(rawValue: value)
    }
}
