// A ChangeStream consumer for the torture test (Tests/PGReplicationIntegrationTests/NoLoss): it
// writes each transaction as one JSON line, fsyncs, then acknowledges, and can be told to sleep
// in its handler past the server's wal_sender_timeout. SIGTERM stops it cleanly; SIGKILL is the
// crash the test is about. Not a product: the integration tests run it as a subprocess.
//
//   pgrepl-torture-consumer DSN SLOT PUBLICATION OUTPUT [streaming=on|off] [slow-every=N]
//       [slow-seconds=S] [end=LSN] [mode=service]
//
// mode=service runs the stream as a swift-service-lifecycle Service in a ServiceGroup that turns
// SIGTERM into a graceful shutdown, and consumes `events()` (acknowledged when the loop asks for
// the next event).
//
// A line: {"xid":725,"end":"0/1A2B3C","ops":["I17","U17","D17"]} (action and the row's id).

import Dispatch
import Foundation
import Logging
import PGReplication
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The consumer, outside the main actor: the signal handler runs on a dispatch queue.
nonisolated func consume() -> Int32 {
    let arguments = CommandLine.arguments
    guard arguments.count >= 5 else {
        FileHandle.standardError.write(
            Data("usage: pgrepl-torture-consumer DSN SLOT PUBLICATION OUTPUT [key=value…]\n".utf8))
        return 2
    }
    var settings: [String: String] = [:]
    for argument in arguments.dropFirst(5) {
        let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
        if parts.count == 2 { settings[parts[0]] = parts[1] }
    }

    var configuration = ChangeStream.Configuration(dsn: arguments[1], slot: arguments[2], publications: [arguments[3]])
    configuration.streaming = settings["streaming"] == "on" ? .on : .off
    configuration.acknowledgement = .manual
    configuration.statusInterval = .seconds(1)
    configuration.reconnect = .init(initialDelay: .seconds(0.05), maxDelay: .seconds(0.5))
    var end: LSN?
    if let text = settings["end"] {
        guard let lsn = try? LSN(text) else {
            FileHandle.standardError.write(Data("pgrepl-torture-consumer: end=\(text) is not an LSN\n".utf8))
            return 2
        }
        end = lsn
    }
    let slowEvery = Int(settings["slow-every"] ?? "") ?? 0
    let slowSeconds = Double(settings["slow-seconds"] ?? "") ?? 0

    let fd = open(arguments[4], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
        FileHandle.standardError.write(Data("cannot open \(arguments[4])\n".utf8))
        return 1
    }

    let stream = ChangeStream(configuration)
    signal(SIGTERM, SIG_IGN)
    let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
    terminate.setEventHandler { [stream] in stream.stop() }
    terminate.resume()

    var handled = 0
    do {
        try stream.consume { event in
            guard case .transaction(let transaction) = event else { return }
            handled += 1
            if slowEvery > 0, handled % slowEvery == 0 { Thread.sleep(forTimeInterval: slowSeconds) }
            try writeLine(transaction, to: fd)
            stream.acknowledge(transaction.endLSN)
            if let end, transaction.endLSN >= end { stream.stop() }
        }
    } catch {
        FileHandle.standardError.write(Data("pgrepl-torture-consumer: \(error)\n".utf8))
        return 1
    }
    exit(0)
}

/// One transaction as a line, written and fsync'd.
nonisolated func writeLine(_ transaction: PGTransaction, to fd: Int32) throws {
    func id(_ row: PGRow?) -> String {
        // An unreadable id is written as "?", which no reference signature holds: the test fails.
        guard let row, let value = try? row["id", as: Int64.self] else { return "?" }
        return String(value)
    }
    let ops = transaction.changes.map { change -> String in
        switch change {
        case .insert(_, let new): return "\"I\(id(new))\""
        case .update(_, let old, _, let new): return "\"U\(id(old ?? new))\""
        case .delete(_, let old, _): return "\"D\(id(old))\""
        case .truncate: return "\"T\""
        case .message: return "\"M\""
        }
    }
    guard !ops.isEmpty else { return }
    let line = Array(
        "{\"xid\":\(transaction.xid),\"end\":\"\(transaction.endLSN)\",\"ops\":[\(ops.joined(separator: ","))]}\n".utf8)
    var written = 0
    while written < line.count {
        let count = line[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { throw POSIXError(.EIO) }
        written += count
    }
    guard fsync(fd) == 0 else { throw POSIXError(.EIO) }
}

/// mode=service: a ServiceGroup with graceful shutdown on SIGTERM.
nonisolated func serve() async -> Int32 {
    let arguments = CommandLine.arguments
    var configuration = ChangeStream.Configuration(dsn: arguments[1], slot: arguments[2], publications: [arguments[3]])
    configuration.statusInterval = .seconds(1)
    configuration.reconnect = .init(initialDelay: .seconds(0.05), maxDelay: .seconds(0.5))
    let fd = open(arguments[4], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return 1 }
    var logger = Logger(label: "pgrepl-torture-consumer")
    logger.logLevel = .warning
    let stream = ChangeStream(configuration, logger: logger)
    let group = ServiceGroup(
        configuration: .init(
            services: [.init(service: stream)], gracefulShutdownSignals: [.sigterm], logger: logger))
    do {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for try await event in stream.events() {
                if case .transaction(let transaction) = event { try writeLine(transaction, to: fd) }
            }
            try await tasks.waitForAll()
        }
    } catch {
        FileHandle.standardError.write(Data("pgrepl-torture-consumer: \(error)\n".utf8))
        return 1
    }
    return 0
}

if CommandLine.arguments.contains("mode=service") {
    exit(await serve())
}
exit(consume())
