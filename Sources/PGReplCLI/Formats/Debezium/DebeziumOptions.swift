/// How `--format debezium` writes `numeric` (and `money`) values: Debezium's
/// `decimal.handling.mode`.
enum DecimalHandling: String, CaseIterable, Sendable {
    /// Kafka Connect's `Decimal`: the unscaled value's two's-complement bytes, big-endian, in
    /// base64; a numeric without a declared scale as `{"scale":…,"value":…}`. NaN and the
    /// infinities have no such form: null.
    case precise
    /// A JSON number (NaN and the infinities as the strings Jackson writes).
    case double
    /// The number's text (NaN and the infinities as `NAN`, `POSITIVE_INFINITY`,
    /// `NEGATIVE_INFINITY`).
    case string
}

/// How `--format debezium` writes `time` and `timestamp` values: Debezium's
/// `time.precision.mode`.
enum TimePrecision: String, CaseIterable, Sendable {
    /// Milliseconds up to precision 3, microseconds above.
    case adaptive
    /// `time` always in microseconds; `timestamp` as `adaptive`.
    case adaptiveTimeMicroseconds = "adaptive_time_microseconds"
    /// Kafka Connect's own types: milliseconds (finer digits are cut).
    case connect
}

/// How `--format debezium` writes `bytea` values: Debezium's `binary.handling.mode`.
enum BinaryHandling: String, CaseIterable, Sendable {
    /// Kafka Connect bytes, which the JSON converter writes in base64.
    case bytes
    case base64
    case base64URLSafe = "base64-url-safe"
    case hex
}

/// How `--format debezium` writes `interval` values: Debezium's `interval.handling.mode`.
enum IntervalHandling: String, CaseIterable, Sendable {
    /// Microseconds, a month counted as 30.4375 days.
    case numeric
    /// ISO 8601 (`P1Y2M3DT4H5M6.789S`).
    case string
}

/// How `--format debezium` writes `hstore` values: Debezium's `hstore.handling.mode`.
enum HstoreHandling: String, CaseIterable, Sendable {
    /// The map as a JSON document in a string.
    case json
    /// The map as a JSON object.
    case map
}

/// What `--format debezium` needs besides the values: Debezium's connector options by their
/// names.
struct DebeziumOptions: Sendable {
    /// `source.name`: Debezium's `topic.prefix`.
    var topicPrefix = "pgrepl"
    var decimalHandling = DecimalHandling.precise
    var timePrecision = TimePrecision.adaptive
    var binaryHandling = BinaryHandling.bytes
    var intervalHandling = IntervalHandling.numeric
    var hstoreHandling = HstoreHandling.json
    /// `key<TAB>value` lines (`kcat -K'\t'`), with a tombstone (`key<TAB>`) after each delete.
    var keyValue = false

    /// Whether every option is Debezium's default.
    var isDefault: Bool {
        topicPrefix == "pgrepl" && decimalHandling == .precise && timePrecision == .adaptive
            && binaryHandling == .bytes && intervalHandling == .numeric && hstoreHandling == .json && !keyValue
    }
}
