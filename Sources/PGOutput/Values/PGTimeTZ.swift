/// A PostgreSQL `timetz`: a time of day with a UTC offset.
///
/// Binary layout: Int64 microseconds since midnight, Int32 zone in seconds **west** of UTC (the
/// negated offset). Text: `HH:MM:SS[.ffffff]±HH[:MM[:SS]]`.
public struct PGTimeTZ: Hashable, Sendable, CustomStringConvertible {
    /// The local time of day.
    public var time: PGTime
    /// The offset from UTC in seconds, positive east of Greenwich (`+05:30` is 19 800).
    public var utcOffsetSeconds: Int32

    public init(time: PGTime, utcOffsetSeconds: Int32) {
        self.time = time
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    /// `13:14:15+05:30`, as PostgreSQL prints it.
    public var description: String { time.description + PGTimeTZ.renderOffset(utcOffsetSeconds) }

    /// `+HH`, `+HH:MM` or `+HH:MM:SS`, whichever is the shortest exact form.
    static func renderOffset(_ seconds: Int32) -> String {
        let magnitude = seconds.magnitude
        var text = (seconds < 0 ? "-" : "+") + PGDate.pad(magnitude / 3600, 2)
        if magnitude % 3600 != 0 { text += ":" + PGDate.pad(magnitude / 60 % 60, 2) }
        if magnitude % 60 != 0 { text += ":" + PGDate.pad(magnitude % 60, 2) }
        return text
    }

    /// Reads `±HH[:MM[:SS]]` as seconds east of UTC.
    static func readOffset(_ reader: inout ValueReader) throws(PGValueDecodingError) -> Int32 {
        let start = reader.offset
        let negative: Bool
        if reader.consume(UInt8(ascii: "-")) {
            negative = true
        } else if reader.consume(UInt8(ascii: "+")) {
            negative = false
        } else {
            throw reader.error("a UTC offset starting with '+' or '-'")
        }
        let hours = try reader.readFixedDigits(2)
        var minutes: Int64 = 0
        var seconds: Int64 = 0
        if reader.consume(UInt8(ascii: ":")) {
            minutes = try reader.readFixedDigits(2)
            if reader.consume(UInt8(ascii: ":")) { seconds = try reader.readFixedDigits(2) }
        }
        guard minutes < 60, seconds < 60, hours <= 15 else {
            throw reader.error("a UTC offset up to 15:59:59", at: start)
        }
        let total = Int32(hours * 3600 + minutes * 60 + seconds)
        return negative ? -total : total
    }

    /// Text: `HH:MM:SS[.ffffff]±HH[:MM[:SS]]`.
    static func decodeText(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGTimeTZ {
        let time = try PGTime.readClock(&reader)
        let offset = try readOffset(&reader)
        try reader.expectEnd()
        return PGTimeTZ(time: PGTime(rawValue: time), utcOffsetSeconds: offset)
    }

    /// Binary: Int64 microseconds, Int32 seconds west of UTC.
    static func decodeBinary(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGTimeTZ {
        let time = try reader.readInteger(as: Int64.self)
        let zoneStart = reader.offset
        let zone = try reader.readInteger(as: Int32.self)
        try reader.expectEnd()
        guard zone != .min else { throw reader.error("a time zone offset", at: zoneStart) }
        return PGTimeTZ(time: PGTime(rawValue: time), utcOffsetSeconds: -zone)
    }
}
