import DecoderWorkload

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Prints plain decoder figures for Benchmarks/decoder.sh:
///   DecoderFigures <corpus.bin> [repetitions] [message limit]
/// For each pass (structural, typed rows) it runs the whole corpus `repetitions` times (default 5)
/// and reports the best run, which is the least disturbed by other work on a shared machine.
let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: DecoderFigures <corpus.bin> [repetitions]")
    exit(2)
}
let repetitions = arguments.count > 2 ? Int(arguments[2]) ?? 5 : 5
let limit = arguments.count > 3 ? Int(arguments[3]) ?? .max : .max
let corpus = try Corpus(path: arguments[1], limit: limit)
print("corpus \(arguments[1]): \(corpus.messageCount) messages, \(corpus.bytes.count) bytes")

func best(_ label: String, _ body: () throws -> PassResult) throws -> (seconds: Double, result: PassResult) {
    let clock = ContinuousClock()
    var bestSeconds = Double.infinity
    var last = PassResult()
    for _ in 0..<repetitions {
        let start = clock.now
        last = try body()
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bestSeconds = min(bestSeconds, seconds)
    }
    return (bestSeconds, last)
}

func format(_ value: Double) -> String {
    let rounded = (value * 100).rounded() / 100
    return String(rounded)
}

let structural = try best("structural") { try corpus.decodeStructure() }
let messagesPerSecond = Double(structural.result.messages) / structural.seconds
print(
    "structural: \(structural.result.messages) messages in \(format(structural.seconds * 1000)) ms = "
        + "\(Int(messagesPerSecond)) messages/s (\(format(structural.seconds * 1e9 / Double(structural.result.messages))) ns/message)"
)
let inspected = try best("inspected") { try corpus.inspectStructure() }
print(
    "structural + switch over row messages: \(format(inspected.seconds * 1e9 / Double(inspected.result.messages))) ns/message"
)
let rows = try best("rows") { try corpus.decodeRows() }
let rowsPerSecond = Double(rows.result.rows) / rows.seconds
print(
    "typed rows: \(rows.result.rows) rows (\(rows.result.messages) messages) in \(format(rows.seconds * 1000)) ms = "
        + "\(Int(rowsPerSecond)) rows/s (\(format(rows.seconds * 1e9 / Double(rows.result.rows))) ns/row)")
print(
    "RESULT messages_per_s=\(Int(messagesPerSecond)) rows_per_s=\(Int(rowsPerSecond)) checksum=\(structural.result.checksum &+ rows.result.checksum)"
)
