import CoreMetrics
import Foundation
import Logging
import Metrics
import PGOutput

extension ChangeStream {
    /// The stream's swift-metrics instruments, each with the slot as its `slot` dimension.
    ///
    /// | label | kind | what |
    /// | --- | --- | --- |
    /// | `pgrepl_transactions_total` | counter | transactions delivered |
    /// | `pgrepl_changes_total` | counter | changes delivered (snapshot rows included) |
    /// | `pgrepl_snapshot_rows_total` | counter | rows of the initial snapshot |
    /// | `pgrepl_backfill_rows_total` | counter | rows of backfill chunks |
    /// | `pgrepl_received_bytes_total` | counter | pgoutput payload bytes received |
    /// | `pgrepl_reconnects_total` | counter | reconnections |
    /// | `pgrepl_lag_bytes` | gauge | the server's WAL end minus the flush position reported |
    /// | `pgrepl_acknowledge_latency` | timer | commit time (the server's clock) to acknowledgement |
    /// | `pgrepl_heartbeat_round_trip` | timer | a heartbeat's emit to its arrival |
    /// | `pgrepl_stalled` | gauge | 1 while the heartbeat is overdue, else 0 |
    /// | `pgrepl_stalls_total` | counter | stalls detected |
    struct Instruments: Sendable {
        let transactions: Counter
        let changes: Counter
        let snapshotRows: Counter
        let backfillRows: Counter
        let receivedBytes: Counter
        let reconnects: Counter
        let lag: Gauge
        let acknowledgeLatency: CoreMetrics.Timer
        let heartbeatRoundTrip: CoreMetrics.Timer
        let stalled: Gauge
        let stalls: Counter

        init(slot: String, factory: (any MetricsFactory)?) {
            let dimensions = [("slot", slot)]
            let factory = factory ?? MetricsSystem.factory
            func counter(_ label: String) -> Counter { Counter(label: label, dimensions: dimensions, factory: factory) }
            func gauge(_ label: String) -> Gauge { Gauge(label: label, dimensions: dimensions, factory: factory) }
            func timer(_ label: String) -> CoreMetrics.Timer {
                CoreMetrics.Timer(label: label, dimensions: dimensions, factory: factory)
            }
            transactions = counter("pgrepl_transactions_total")
            changes = counter("pgrepl_changes_total")
            snapshotRows = counter("pgrepl_snapshot_rows_total")
            backfillRows = counter("pgrepl_backfill_rows_total")
            receivedBytes = counter("pgrepl_received_bytes_total")
            reconnects = counter("pgrepl_reconnects_total")
            lag = gauge("pgrepl_lag_bytes")
            acknowledgeLatency = timer("pgrepl_acknowledge_latency")
            heartbeatRoundTrip = timer("pgrepl_heartbeat_round_trip")
            stalled = gauge("pgrepl_stalled")
            stalls = counter("pgrepl_stalls_total")
        }
    }
}

/// What a stream's helper threads (the backfill's and the heartbeat's) may see and do of it: its
/// settings, logger and instruments, whether it is connected, its copy progress, and ending it
/// with an error. They never get the stream itself.
struct StreamContext: Sendable {
    let configuration: ChangeStream.Configuration
    let logger: Logger
    let instruments: ChangeStream.Instruments
    let isConnected: @Sendable () -> Bool
    /// Sets the table being copied (nil when none is).
    let setCopyProgress: @Sendable (ChangeStream.CopyProgress?) -> Void
    /// Ends the stream with `error`.
    let fail: @Sendable (ChangeStreamError) -> Void
}

extension ChangeStream {
    /// The context of this stream's helper threads.
    var context: StreamContext {
        StreamContext(
            configuration: configuration, logger: logger, instruments: instruments,
            isConnected: { self.state.withLock { $0.metrics.isConnected } },
            setCopyProgress: { progress in
                self.state.withLock {
                    $0.metrics.backfillTable = progress?.table
                    $0.metrics.copy = progress
                }
            },
            fail: { self.fail($0) })
    }
}
