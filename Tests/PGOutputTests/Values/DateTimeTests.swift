import Foundation
import PGOutput
import Testing

@Suite struct DateTimeTests {
    @Test func datesIncludingBCAndInfinity() throws {
        #expect(try decodeText("2000-01-01", .date) == .date(PGDate(rawValue: 0)))
        #expect(try decodeText("1999-12-31", .date) == .date(PGDate(rawValue: -1)))
        #expect(try decodeText("2024-02-29", .date) == .date(#require(PGDate(year: 2024, month: 2, day: 29))))
        #expect(try decodeText("infinity", .date) == .date(.infinity))
        #expect(try decodeText("-infinity", .date) == .date(.negativeInfinity))
        let bc = try decodeText("0044-03-15 BC", .date)
        #expect(try bc == .date(#require(PGDate(year: -43, month: 3, day: 15))))
        #expect(bc.description == "0044-03-15 BC")
        #expect(try decodeText("5874897-12-31", .date).description == "5874897-12-31")
        #expect(try decodeText("4714-11-24 BC", .date).description == "4714-11-24 BC")
        #expect(try decodeBinary(be(Int32(-1)), .date) == .date(PGDate(rawValue: -1)))
        #expect(try decodeBinary(be(Int32.max), .date) == .date(.infinity))
        #expect(throws: PGValueDecodingError.self) { try decodeText("2023-02-29", .date) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("2023-13-01", .date) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("23-01-01", .date) }
        #expect(PGDate(rawValue: 0).date == Date(timeIntervalSince1970: 946_684_800))
        #expect(PGDate(rawValue: 31).components?.month == 2)
    }

    /// BC leap years are those of the astronomical year: 4713 BC is -4712, a leap year; 4 BC is -3,
    /// not one. The fuzzer found the first release rejecting `4713-02-29 … BC`, which it printed
    /// itself.
    @Test func februaryTwentyNinthOfBCLeapYears() throws {
        #expect(try decodeText("4713-02-29 BC", .date).description == "4713-02-29 BC")
        #expect(try decodeText("0005-02-29 BC", .date) == .date(#require(PGDate(year: -4, month: 2, day: 29))))
        #expect(throws: PGValueDecodingError.self) { try decodeText("0004-02-29 BC", .date) }
        let timestamp = try decodeText("4713-02-29 20:00:00+00 BC", .timestamptz)
        #expect(timestamp.description == "4713-02-29 20:00:00+00 BC")
        #expect(try decodeText("4713-03-01 01:53:28+05:53:28 BC", .timestamptz) == timestamp)
        #expect(try decodeText("4713-02-29 20:00:00 BC", .timestamp).description == "4713-02-29 20:00:00 BC")
        #expect(throws: PGValueDecodingError.self) { try decodeText("0004-02-29 12:00:00 BC", .timestamp) }
    }

    @Test func timesAndTimesWithZone() throws {
        #expect(
            try decodeText("13:14:15.123456", .time)
                == .time(#require(PGTime(hour: 13, minute: 14, second: 15, microsecond: 123_456))))
        #expect(try decodeText("24:00:00", .time) == .time(PGTime(rawValue: 86_400_000_000)))
        #expect(try decodeText("00:00:00.5", .time).description == "00:00:00.5")
        #expect(try decodeBinary(be(Int64(1_000_001)), .time).description == "00:00:01.000001")
        #expect(throws: PGValueDecodingError.self) { try decodeText("24:00:01", .time) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("12:60:00", .time) }

        let timetz = try decodeText("13:14:15+05:30", .timetz)
        #expect(timetz == .timetz(PGTimeTZ(time: PGTime(rawValue: 47_655_000_000), utcOffsetSeconds: 19_800)))
        #expect(timetz.description == "13:14:15+05:30")
        // Binary zone is seconds west of UTC.
        #expect(try decodeBinary(be(Int64(47_655_000_000)) + be(Int32(-19_800)), .timetz) == timetz)
        #expect(try decodeText("00:00:00-08", .timetz).description == "00:00:00-08")
        #expect(try decodeText("01:02:03+05:53:28", .timetz).description == "01:02:03+05:53:28")
        #expect(throws: PGValueDecodingError.self) { try decodeText("13:14:15", .timetz) }
    }

    @Test func timestampsWithAndWithoutZone() throws {
        #expect(try decodeText("2000-01-01 00:00:00", .timestamp) == .timestamp(PostgresTimestamp(rawValue: 0)))
        #expect(
            try decodeText("2000-01-01 05:30:00+05:30", .timestamptz) == .timestamptz(PostgresTimestamp(rawValue: 0)))
        #expect(try decodeText("1999-12-31 23:59:59.999999", .timestamp) == .timestamp(PostgresTimestamp(rawValue: -1)))
        #expect(try decodeText("infinity", .timestamptz) == .timestamptz(.infinity))
        #expect(try decodeText("-infinity", .timestamp) == .timestamp(.negativeInfinity))
        let bc = try decodeText("0001-01-01 00:00:00 BC", .timestamp)
        #expect(bc.description == "0001-01-01 00:00:00 BC")
        let lmt = try decodeText("4713-01-01 05:53:28+05:53:28 BC", .timestamptz)
        #expect(lmt.description == "4713-01-01 00:00:00+00 BC")
        #expect(
            try decodeText("294276-12-31 23:59:59.999999", .timestamp).description == "294276-12-31 23:59:59.999999")
        #expect(try decodeBinary(be(Int64(1_500_000)), .timestamp).description == "2000-01-01 00:00:01.5")
        #expect(try Date(pgValue: decodeText("1970-01-01 00:00:00+00", .timestamptz)) == Date(timeIntervalSince1970: 0))
        #expect(throws: PGValueDecodingError.self) { try decodeText("2000-01-01T00:00:00", .timestamp) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("2000-01-01 00:00:00", .timestamptz) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("300000-01-01 00:00:00", .timestamp) }
    }

    @Test(arguments: [
        "1 year 2 mons 3 days 04:05:06.789", "-1 years -2 mons +3 days -04:05:06.5", "00:00:00", "1 day",
        "-02:00:00", "1 mon -1 days", "178000000 years", "-178000000 years", "2147483647 days",
        "-00:00:00.000001", "1 mon 1 day 00:00:00.000001", "2562047788:00:54.775807",
    ])
    func intervalTextRoundTrips(text: String) throws {
        #expect(try decodeText(text, .interval).description == text)
    }

    @Test func intervalFieldsAndBinary() throws {
        let value = try decodeText("-1 years -2 mons +3 days -04:05:06.5", .interval)
        #expect(value == .interval(PGInterval(months: -14, days: 3, microseconds: -14_706_500_000)))
        #expect(try decodeBinary(be(Int64(-14_706_500_000)) + be(Int32(3)) + be(Int32(-14)), .interval) == value)
        #expect(throws: PGValueDecodingError.self) { try decodeText("1 fortnight", .interval) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("1 day 1 year", .interval) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("300000000 years", .interval) }
        #expect(throws: PGValueDecodingError.self) { try decodeText("", .interval) }
    }
}
