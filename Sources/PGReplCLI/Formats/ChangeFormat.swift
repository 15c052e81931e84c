import ArgumentParser
import PGOutput
import PGReplication

/// How `pgrepl stream` and `pgrepl demo` print decoded changes.
///
/// - `json`: wal2json's format-version 2, one JSON object per line (``Wal2JSONEncoder``).
/// - `debezium`: the envelope of Debezium's PostgreSQL connector (``DebeziumEncoder``).
/// - `text`: one readable line per change, with BEGIN and COMMIT lines.
/// - `raw` (stream only): each pgoutput message as `LSN hex`, one per line.
/// - `notifications` (stream only): the notifications of `PGNotifications`, one JSON object per
///   line (``NotificationEncoder``).
enum ChangeFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    case json, debezium, text, raw, notifications

    /// The encoder of this format, with `options`; `sql` opens the catalog connection for the
    /// formats that read catalog facts. The one place encoders are built.
    func encoder(
        _ options: FormatOptions, sql: () throws(CLIError) -> CatalogConnection
    ) throws(CLIError) -> any ChangeLineEncoder {
        switch self {
        case .json:
            Wal2JSONEncoder(options: options.wal2json, catalog: try CatalogFacts(sql: sql(), options: options.wal2json))
        case .debezium:
            DebeziumEncoder(
                options: options.debezium,
                catalog: try CatalogFacts(sql: sql(), options: DebeziumEncoder.catalogOptions))
        case .text: TextEncoder()
        case .raw: RawEncoder()
        case .notifications: NotificationEncoder(channels: options.channels)
        }
    }
}

/// The options of the formats, as parsed from the command line.
struct FormatOptions {
    /// `-o`, for `--format json`.
    var wal2json = Wal2JSONOptions()
    /// `--topic-prefix`, `--decimal-handling`, `--key-value`, for `--format debezium`.
    var debezium = DebeziumOptions()
    /// `--channel`, for `--format notifications`.
    var channels: Set<String> = []
}
