/// Durations where the package computes in seconds (the engine's clocks, `poll`'s timeouts).
extension Duration {
    /// The duration in seconds, with its fraction.
    package var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// A duration of `seconds` (finite) seconds.
    package static func seconds(exactly seconds: Double) -> Duration {
        .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
