/// How a parallel initial snapshot shares a table between its connections: contiguous ranges of
/// the table's heap blocks, each read by one `COPY` with a TID range condition under the one
/// exported snapshot.
///
/// The first range is open below and the last open above, so together they cover every tuple
/// whatever the table's size is by the time a range is read: a tuple the snapshot sees was written
/// before it, in a block that existed then, and a block added later holds only tuples it does not
/// see.
package struct BlockRanges: Hashable, Sendable {
    /// One range: blocks from `lower` (nil: the first) up to but not including `upper` (nil: past
    /// the last).
    package struct Range: Hashable, Sendable {
        package var lower: Int?
        package var upper: Int?

        package init(lower: Int?, upper: Int?) {
            self.lower = lower
            self.upper = upper
        }

        /// The `WHERE` condition on `ctid` for the range (a TID range scan, PostgreSQL 14+); nil
        /// for the whole table.
        package var condition: String? {
            let bounds = [lower.map { "ctid >= '(\($0),0)'::tid" }, upper.map { "ctid < '(\($0),0)'::tid" }]
                .compactMap { $0 }
            return bounds.isEmpty ? nil : bounds.joined(separator: " AND ")
        }
    }

    package var ranges: [Range]

    /// Ranges of (nearly) equal block counts, `parts` of them, or one per block when the table
    /// has fewer; one range, the whole table, for `parts` of 1 or a table of at most one block.
    package init(blocks: Int, parts: Int) {
        let count = min(max(parts, 1), max(blocks, 1))
        guard count > 1 else {
            ranges = [Range(lower: nil, upper: nil)]
            return
        }
        let bounds = (1..<count).map { blocks * $0 / count }
        ranges = (0..<count).map { index in
            Range(lower: index == 0 ? nil : bounds[index - 1], upper: index == count - 1 ? nil : bounds[index])
        }
    }
}
