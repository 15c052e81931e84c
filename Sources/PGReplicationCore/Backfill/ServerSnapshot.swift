/// A snapshot as PostgreSQL's `pg_current_snapshot()` writes it, `xmin:xmax:xip,…`: which
/// committed transactions a read under it sees.
///
/// The stream names transactions by their 32-bit ID; the snapshot's IDs are 64-bit (with the
/// epoch). A 32-bit ID is taken as the 64-bit one nearest the snapshot's `xmax`, which is exact for
/// any transaction less than two billion transactions from it.
package struct ServerSnapshot: Hashable, Sendable {
    /// Every transaction below it is finished.
    package var xmin: UInt64
    /// Every transaction from it on is not finished.
    package var xmax: UInt64
    /// The transactions between the two that were running.
    package var running: Set<UInt64>

    package init(xmin: UInt64, xmax: UInt64, running: Set<UInt64>) {
        self.xmin = xmin
        self.xmax = xmax
        self.running = running
    }

    /// Reads `pg_current_snapshot()`'s text; nil when it is not one.
    package init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]), xmin <= xmax else {
            return nil
        }
        var running: Set<UInt64> = []
        for part in parts[2].split(separator: ",") {
            guard let xid = UInt64(part), xid >= xmin, xid < xmax else { return nil }
            running.insert(xid)
        }
        self.init(xmin: xmin, xmax: xmax, running: running)
    }

    /// Whether a read under this snapshot sees what the committed transaction `xid` wrote.
    package func sees(_ xid: UInt32) -> Bool {
        let full = widened(xid)
        if full < xmin { return true }
        return full < xmax && !running.contains(full)
    }

    /// The 64-bit ID nearest `xmax` whose low 32 bits are `xid`.
    func widened(_ xid: UInt32) -> UInt64 {
        let half: UInt64 = 1 << 31
        var full = (xmax & ~0xFFFF_FFFF) | UInt64(xid)
        if full > xmax, full - xmax > half, full >= 1 << 32 {
            full -= 1 << 32
        } else if full < xmax, xmax - full >= half {
            full += 1 << 32
        }
        return full
    }
}
