import Testing

@testable import PGReplicationCore

/// A parallel snapshot's block ranges cover every block once, in order, open at both ends.
@Suite struct BlockRangesTests {
    @Test func oneRangeForOneWorkerOrOneBlock() {
        let whole = [BlockRanges.Range(lower: nil, upper: nil)]
        #expect(BlockRanges(blocks: 1000, parts: 1).ranges == whole)
        #expect(BlockRanges(blocks: 0, parts: 8).ranges == whole)
        #expect(BlockRanges(blocks: 1, parts: 8).ranges == whole)
        #expect(BlockRanges(blocks: 1000, parts: 0).ranges == whole)
        #expect(whole[0].condition == nil)
    }

    @Test(arguments: [(2, 2), (3, 2), (10, 4), (1000, 8), (7, 16), (100_003, 7)])
    func rangesAreContiguousAndOpenAtBothEnds(blocks: Int, parts: Int) {
        let ranges = BlockRanges(blocks: blocks, parts: parts).ranges
        #expect(ranges.count == min(parts, blocks))
        #expect(ranges.first?.lower == nil)
        #expect(ranges.last?.upper == nil)
        for (before, after) in zip(ranges, ranges.dropFirst()) {
            #expect(before.upper != nil && before.upper == after.lower)
        }
        // No range is empty, and sizes differ by at most one block.
        let bounds = [0] + ranges.dropFirst().map { $0.lower ?? 0 } + [blocks]
        let sizes = zip(bounds, bounds.dropFirst()).map { $1 - $0 }
        #expect(sizes.allSatisfy { $0 >= 1 })
        #expect((sizes.max() ?? 0) - (sizes.min() ?? 0) <= 1)
    }

    @Test func theConditionsReadTIDRanges() {
        let ranges = BlockRanges(blocks: 10, parts: 3).ranges
        #expect(
            ranges.map(\.condition) == [
                "ctid < '(3,0)'::tid", "ctid >= '(3,0)'::tid AND ctid < '(6,0)'::tid", "ctid >= '(6,0)'::tid",
            ])
    }
}
