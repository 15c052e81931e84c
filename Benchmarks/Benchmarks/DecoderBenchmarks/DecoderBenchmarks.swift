import Benchmark
import DecoderWorkload

/// package-benchmark suites over the captured corpus (see ../../README.md): each iteration decodes
/// the first 100 000 messages of a corpus, so malloc counts are per 100 000 messages.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        scalingFactor: .one,
        maxDuration: .seconds(5),
        maxIterations: 50
    )
    for format in ["text", "binary"] {
        let path = "\(Corpus.defaultFolder)/pgoutput-\(format).bin"
        let corpus = Result { () throws(CorpusError) in try Corpus(path: path, limit: 100_000) }
        Benchmark("Structural decode, \(format) tuples, 100k messages") { _ in
            blackHole(try corpus.get().decodeStructure().checksum)
        }
        Benchmark("Typed rows, \(format) tuples, 100k messages") { _ in
            blackHole(try corpus.get().decodeRows().checksum)
        }
    }
}
