import PGOutput

/// Where a backfill stands after one of its chunks (`PGSnapshotBatch/backfill`).
public struct PGBackfillProgress: Hashable, Sendable {
    /// The chunk's high watermark: the event's acknowledgement position. Everything the stream
    /// delivered before the chunk lies before it.
    public var highWatermark: LSN
    /// The chunk's number within its table, from 1.
    public var chunk: Int
    /// Rows of this table delivered so far, this chunk's included.
    public var tableRows: Int
    /// What to persist once the chunk is handled, and pass back to resume the backfill after it.
    public var checkpoint: PGBackfillCheckpoint

    public init(highWatermark: LSN, chunk: Int, tableRows: Int, checkpoint: PGBackfillCheckpoint) {
        self.highWatermark = highWatermark
        self.chunk = chunk
        self.tableRows = tableRows
        self.checkpoint = checkpoint
    }
}

/// A backfill's progress as a value to persist: the tables not finished yet and the key of the
/// last row delivered of the first of them. Codable, so that it can be kept with a consumer's own
/// position; a backfill resumed from it starts with the row after that key.
public struct PGBackfillCheckpoint: Codable, Hashable, Sendable {
    /// The tables still to copy (`schema.table`), the one in progress first; empty when the
    /// backfill is complete.
    public var tables: [String]
    /// The key of the last row delivered of `tables[0]`, in key-column order, as PostgreSQL
    /// prints it; nil when none was delivered yet.
    public var after: [String]?
    /// Rows of `tables[0]` delivered so far.
    public var tableRows: Int

    public init(tables: [String], after: [String]? = nil, tableRows: Int = 0) {
        self.tables = tables
        self.after = after
        self.tableRows = tableRows
    }

    /// Whether every table was copied.
    public var isComplete: Bool { tables.isEmpty }
}
