import CoreMetrics
import Foundation
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
