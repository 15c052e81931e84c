// The Swift consumers of Benchmarks/run, one per process so the runner can measure each alone:
//
//   ReplicationBench raw      dsn=… slot=… end=LSN     consumeStream, raw bytes
//                            [pause=seconds]          readCoalescing (0: psycopg2's timing)
//   ReplicationBench decoded  dsn=… slot=… end=LSN     ChangeStream.run, chunked, typed values
//                            [delivery=assembled]     whole transactions (past 64 MiB spilled)
//   ReplicationBench async    dsn=… slot=… end=LSN     ChangeStream.events(), chunked, streaming
//   ReplicationBench latency  dsn=… slot=… samples=N   commit-to-confirmed-flush latency
//
// Every mode prints one line `RESULT key=value …` for the runner (and a readable line before it).
import Foundation
import PGOutput
import PGReplication

#if canImport(Glibc)
import Glibc
#endif

struct Arguments {
    var values: [String: String] = [:]

    init(_ arguments: ArraySlice<String>) {
        for argument in arguments {
            guard let equals = argument.firstIndex(of: "=") else { fail("expected key=value, got \(argument)") }
            values[String(argument[..<equals])] = String(argument[argument.index(after: equals)...])
        }
    }

    func string(_ key: String, default fallback: String? = nil) -> String {
        guard let value = values[key] ?? fallback else { fail("missing \(key)=…") }
        return value
    }

    func lsn(_ key: String) -> LSN {
        do { return try LSN(string(key)) } catch { fail("\(key): not an LSN: \(string(key))") }
    }

    func int(_ key: String, default fallback: Int) -> Int {
        guard let text = values[key] else { return fallback }
        guard let value = Int(text) else { fail("\(key): not an integer: \(text)") }
        return value
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ReplicationBench: \(message)\n".utf8))
    exit(2)
}

/// Peak resident set size of this process in kB (`VmHWM`).
func peakRSSKilobytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
    return 0
}

/// When the process started its measured work.
let started = ContinuousClock.now

@main
enum ReplicationBench {
    static func main() async {
        _ = started
        let arguments = CommandLine.arguments
        guard arguments.count >= 2 else { fail("usage: ReplicationBench raw|decoded|async|latency key=value…") }
        let options = Arguments(arguments.dropFirst(2))
        do {
            switch arguments[1] {
            case "raw": try runRaw(options)
            case "decoded": try runDecoded(options)
            case "async": try await runAsync(options)
            case "latency": try runLatency(options)
            default: fail("unknown mode \(arguments[1])")
            }
        } catch {
            fail("\(error)")
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func elapsedSeconds() -> Double { seconds(ContinuousClock.now - started) }

// MARK: - Raw: consumeStream, as psycopg2's consume_stream

/// Drains the slot with `consumeStream` up to the first message at or past `end`, counting row
/// messages by their tag byte and confirming each message's position, as the psycopg2 script does.
func runRaw(_ options: Arguments) throws {
    let end = options.lsn("end")
    let connection = try LogicalReplicationConnection(options.string("dsn"))
    defer { connection.close() }
    let cursor = try connection.cursor()
    if let pause = options.values["pause"] {
        guard let seconds = Double(pause) else { fail("pause: not a number: \(pause)") }
        cursor.readCoalescing = seconds
    }
    try cursor.startReplication(
        slotName: options.string("slot"),
        options: ["proto_version": "1", "publication_names": .string(options.string("publication", default: "bench"))])
    var messages = 0
    var changes = 0
    var bytes = 0
    var last: LSN = 0
    do {
        try cursor.consumeStream { message in
            messages += 1
            bytes += message.dataSize
            let tag = message.withUnsafePayload { $0.first ?? 0 }
            if tag == UInt8(ascii: "I") || tag == UInt8(ascii: "U") || tag == UInt8(ascii: "D") { changes += 1 }
            try message.cursor.sendFeedback(flushLSN: message.dataStart)
            last = message.dataStart
            if message.dataStart >= end { throw StopReplication() }
        }
    } catch is StopReplication {}
    try cursor.sendFeedback(flushLSN: last, force: true)
    print("raw consumeStream: \(messages) messages, \(changes) changes, \(bytes) payload bytes")
    print(
        "RESULT messages=\(messages) changes=\(changes) seconds=\(elapsedSeconds()) peak_rss_kb=\(peakRSSKilobytes())")
}

// MARK: - Decoded: ChangeStream with typed values

/// Reads every decoded value, so that nothing decoded goes unused.
struct Toucher {
    var changes = 0
    var checksum = 0

    mutating func touch(_ event: PGChangeEvent) {
        switch event {
        case .changes(let batch): for change in batch.changes { touch(change) }
        case .transaction(let transaction): for change in transaction.changes { touch(change) }
        default: break
        }
    }

    mutating func touch(_ change: PGChange) {
        changes += 1
        switch change {
        case .insert(_, let new): touch(new)
        case .update(_, let old, _, let new):
            if let old { touch(old) }
            touch(new)
        case .delete(_, let old, _): touch(old)
        case .truncate, .message: break
        }
    }

    mutating func touch(_ row: PGRow) {
        for value in row.values { checksum &+= Self.weight(value) }
    }

    static func weight(_ value: PGValue) -> Int {
        switch value {
        case .null, .unchangedToast: return 0
        case .bool(let value): return value ? 1 : 2
        case .int16(let value): return Int(value)
        case .int32(let value): return Int(value)
        case .int64(let value): return Int(truncatingIfNeeded: value)
        case .numeric(let value): return value.significandDigits.count &+ value.scale
        case .text(let value), .json(let value), .jsonb(let value): return value.utf8.count
        case .timestamptz(let value), .timestamp(let value): return Int(truncatingIfNeeded: value.rawValue)
        case .array(let array): return array.elements.reduce(array.elements.count) { $0 &+ weight($1) }
        default: return 1
        }
    }
}

func changeStream(_ options: Arguments, protocolVersion: Int?, streaming: Bool) -> ChangeStream {
    var configuration = ChangeStream.Configuration(
        dsn: options.string("dsn"), slot: options.string("slot"),
        publications: [options.string("publication", default: "bench")])
    configuration.protocolVersion = protocolVersion
    configuration.streaming = streaming ? .on : .off
    configuration.delivery =
        options.values["delivery"] == "assembled"
        ? .assembled : .chunked(batchSize: options.int("batch", default: 1000))
    configuration.reconnect = .never
    return ChangeStream(configuration)
}

/// Whether an event ends the run: a transaction that ends at or past `end`.
func reachesEnd(_ event: PGChangeEvent, _ end: LSN) -> Bool {
    switch event {
    case .commit(let transaction), .transaction(let transaction): return transaction.endLSN >= end
    default: return false
    }
}

func report(_ name: String, _ toucher: Toucher) {
    let seconds = elapsedSeconds()
    print(
        "\(name): \(toucher.changes) changes in \(String(format: "%.2f", seconds)) s, "
            + "\(Int(Double(toucher.changes) / seconds)) changes/s, peak RSS \(peakRSSKilobytes() / 1024) MB")
    print(
        "RESULT changes=\(toucher.changes) checksum=\(toucher.checksum) seconds=\(seconds) peak_rss_kb=\(peakRSSKilobytes())"
    )
}

/// The blocking front end, on the slot's content as pg_recvlogical sees it (protocol 1).
func runDecoded(_ options: Arguments) throws {
    let end = options.lsn("end")
    let stream = changeStream(options, protocolVersion: 1, streaming: false)
    var toucher = Toucher()
    try stream.consume { event in
        toucher.touch(event)
        if reachesEnd(event, end) { stream.stop() }
    }
    report("ChangeStream.run (\(options.values["delivery"] ?? "chunked"))", toucher)
}

// MARK: - Async: events(), streaming of large transactions, chunked delivery (issue 4 #5)

/// `for try await` over `events()`, with the server streaming large transactions (protocol 2+)
/// and chunked delivery, so no transaction is held whole. The DSN should make
/// `logical_decoding_work_mem` small (`options=-c logical_decoding_work_mem=64kB`).
func runAsync(_ options: Arguments) async throws {
    let end = options.lsn("end")
    let stream = changeStream(options, protocolVersion: nil, streaming: true)
    var toucher = Toucher()
    var streamedChunks = 0
    for try await event in stream.events() {
        toucher.touch(event)
        if case .begin(let begin) = event, begin.isStreamed { streamedChunks += 1 }
        if reachesEnd(event, end) { break }
    }
    report("ChangeStream.events() (chunked, streaming)", toucher)
    print("RESULT_ASYNC streamed_transactions=\(streamedChunks)")
}

// MARK: - Latency: commit to confirmed_flush_lsn

/// A live `ChangeStream` consumer on its own thread; the main thread commits one marker row at a
/// time (50 ms apart), notes the clock, and polls `pg_replication_slots.confirmed_flush_lsn` until it passes
/// the transaction's last record before the commit.
func runLatency(_ options: Arguments) throws {
    let samples = options.int("samples", default: 100)
    let slot = options.string("slot")
    var configuration = ChangeStream.Configuration(
        dsn: options.string("dsn"), slot: slot, publications: [options.string("publication", default: "bench")])
    configuration.createSlot = true
    configuration.delivery = .chunked(batchSize: 1000)
    configuration.reconnect = .never
    if let interval = options.values["status_interval"].flatMap(Double.init) {
        configuration.statusInterval = .seconds(interval)
    }
    let stream = ChangeStream(configuration)
    let consumer = Thread {
        var toucher = Toucher()
        do {
            try stream.consume { event in toucher.touch(event) }
        } catch {
            fail("latency consumer: \(error)")
        }
    }
    consumer.start()

    let sql = try PGConnection(options.string("dsn"))
    defer { sql.close() }
    let quotedSlot = try sql.quoteLiteral(slot)
    // Wait until the stream created its slot and is following the server.
    while true {
        let ready = try sql.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = \(quotedSlot) AND active"
        ).scalar
        if ready == "1" { break }
        usleep(20_000)
    }
    var latencies: [Double] = []
    for sample in 0..<samples {
        // One marker every ~50 ms, an application committing now and then: back to back, each
        // commit would follow the previous status update within the stream's 10 ms rate limit.
        usleep(50_000)
        let beforeCommit =
            try sql.execute(
                "INSERT INTO bench VALUES (\(-1 - sample), 'latency marker', 0, 0, true, now(), NULL, NULL) "
                    + "RETURNING pg_current_wal_insert_lsn()"
            ).scalar ?? "0/0"
        let committed = ContinuousClock.now
        while true {
            let passed = try sql.execute(
                "SELECT confirmed_flush_lsn > '\(beforeCommit)'::pg_lsn FROM pg_replication_slots WHERE slot_name = \(quotedSlot)"
            ).scalar
            if passed == "t" { break }
            usleep(1_000)
        }
        latencies.append(seconds(ContinuousClock.now - committed) * 1000)
    }
    stream.stop()
    _ = try sql.execute("DELETE FROM bench WHERE id < 0")
    latencies.sort()
    func percentile(_ p: Double) -> Double {
        latencies[min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)]
    }
    let median = percentile(0.5)
    let p99 = percentile(0.99)
    print(
        String(
            format: "commit to confirmed flush over %d samples: median %.1f ms, p99 %.1f ms, max %.1f ms",
            latencies.count, median, p99, latencies.last ?? 0))
    print("RESULT samples=\(latencies.count) median_ms=\(median) p99_ms=\(p99) max_ms=\(latencies.last ?? 0)")
}
