#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A PostgreSQL `timestamptz` on the wire: microseconds since 2000-01-01 00:00:00 UTC.
///
/// Replication frames (XLogData send time, keepalives, status updates) and pgoutput messages
/// (commit, prepare and abort times) carry this value. `Int64.max` and `Int64.min` are PostgreSQL's
/// `infinity` and `-infinity`.
public struct PostgresTimestamp: RawRepresentable, Hashable, Comparable, Sendable, Codable,
    CustomStringConvertible
{
    /// Microseconds since 2000-01-01 00:00:00 UTC.
    public var rawValue: Int64

    /// Seconds from the Unix epoch to the PostgreSQL epoch (10 957 days).
    public static let postgresEpochOffsetSeconds: Int64 = 946_684_800

    public static let infinity = PostgresTimestamp(rawValue: .max)
    public static let negativeInfinity = PostgresTimestamp(rawValue: .min)

    public init(rawValue: Int64) { self.rawValue = rawValue }

    /// Microseconds since 2000-01-01 00:00:00 UTC.
    public var microsecondsSincePostgresEpoch: Int64 { rawValue }

    public var isInfinite: Bool { rawValue == .max || rawValue == .min }

    /// The timestamp as a `Date` (`.distantFuture` / `.distantPast` for the infinities).
    public var date: Date {
        if rawValue == .max { return .distantFuture }
        if rawValue == .min { return .distantPast }
        let seconds = Double(rawValue / 1_000_000) + Double(rawValue % 1_000_000) / 1_000_000
        return Date(timeIntervalSince1970: seconds + Double(Self.postgresEpochOffsetSeconds))
    }

    /// The PostgreSQL timestamp of a `Date`, rounded to the microsecond; dates beyond what
    /// PostgreSQL can hold become `infinity` or `-infinity`. A date whose time interval is NaN
    /// has no timestamp: the result is nil.
    public init?(_ date: Date) {
        let micros = (date.timeIntervalSince1970 - Double(Self.postgresEpochOffsetSeconds)) * 1_000_000
        guard !micros.isNaN else { return nil }
        if micros >= 9.2e18 {
            self.rawValue = .max
        } else if micros <= -9.2e18 {
            self.rawValue = .min
        } else {
            self.rawValue = Int64(micros.rounded())
        }
    }

    /// The current time.
    public static func now() -> PostgresTimestamp {
        PostgresTimestamp(Date()) ?? PostgresTimestamp(rawValue: 0)
    }

    public static func < (lhs: PostgresTimestamp, rhs: PostgresTimestamp) -> Bool { lhs.rawValue < rhs.rawValue }

    /// ISO 8601 in UTC with microseconds, or `infinity` / `-infinity`.
    public var description: String {
        if rawValue == .max { return "infinity" }
        if rawValue == .min { return "-infinity" }
        return date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
    }
}
