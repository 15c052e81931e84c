import Foundation
import Logging
import PGOutput

extension ChangeStream {
    // MARK: - The run and reconnect loop

    func runLoop(acknowledgeAfterHandler: Bool, _ handler: (PGChangeEvent) throws -> Void) throws {
        let first = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard first else { throw PGError.programming("a ChangeStream runs once; make a new one to stream again") }
        var attempt = 0
        var firstConnection = true
        while !stopRequested {
            do {
                let streamed = try connectAndStream(
                    firstConnection: firstConnection, acknowledgeAfterHandler: acknowledgeAfterHandler, handler)
                firstConnection = false
                if streamed { attempt = 0 }
                if stopRequested { return }
                logger.info(
                    "the server ended the replication stream; reconnecting",
                    metadata: ["pgrepl.slot": "\(configuration.slot)"])
            } catch let failure as HandlerFailure {
                throw failure.error
            } catch {
                if let typed = try diagnoseSlot(after: error) { throw typed }
                guard isRetryable(error) else { throw error }
                firstConnection = false
            }
            attempt += 1
            if let maxAttempts = configuration.reconnect.maxAttempts, attempt > maxAttempts {
                throw ChangeStreamError(
                    .reconnectFailed, "gave up reconnecting after \(maxAttempts) attempts", slot: configuration.slot)
            }
            let delay = configuration.reconnect.delay(attempt: attempt)
            logger.info(
                "replication connection lost; reconnecting",
                metadata: [
                    "pgrepl.slot": "\(configuration.slot)", "pgrepl.attempt": "\(attempt)", "pgrepl.delay": "\(delay)",
                ])
            state.withLock { $0.metrics.reconnects += 1 }
            wake.sleep(delay)
        }
    }

    /// An error the handler threw, carried out of the cursor's loop unchanged.
    struct HandlerFailure: Error {
        var error: any Error
    }

    /// One connection's life. Returns whether it got as far as streaming.
    private func connectAndStream(
        firstConnection: Bool, acknowledgeAfterHandler: Bool, _ handler: (PGChangeEvent) throws -> Void
    ) throws -> Bool {
        let connection = try LogicalReplicationConnection(configuration.dsn, logger: logger)
        defer { connection.close() }
        let cursor = try connection.cursor()
        if firstConnection {
            try prepare(connection: connection, cursor: cursor, handler: handler)
        }
        let version =
            configuration.protocolVersion ?? Self.highestProtocolVersion(serverVersion: connection.serverVersion)
        let startLSN = state.withLock { state in
            state.acknowledged > 0 ? state.acknowledged : (configuration.startLSN ?? 0)
        }
        // Acknowledged positions reach the server within 10 ms, not on the next timed status
        // update (up to `statusInterval` later): the slot follows the consumer closely.
        cursor.promptFeedbackInterval = 0.01
        cursor.receiveTimeout = configuration.receiveTimeout
        try cursor.startReplication(
            slotName: configuration.slot, startLSN: startLSN,
            options: try pluginOptions(version: version, cursor: cursor),
            statusInterval: configuration.statusInterval)
        let feedback = try cursor.makeFeedbackHandle()
        let acknowledged = state.withLock { state in
            state.stopHandle = cursor.makeStopHandle()
            state.feedback = feedback
            state.metrics.connected = true
            return state.acknowledged
        }
        if acknowledged > 0 { feedback.confirm(flush: acknowledged) }
        defer {
            let positions = feedback.positions
            state.withLock { state in
                state.metrics.serverWALEnd = max(state.metrics.serverWALEnd, positions.highestWalEnd)
                state.metrics.flushedLSN = max(state.metrics.flushedLSN, positions.flushLSN)
                state.stopHandle = nil
                state.feedback = nil
                state.metrics.connected = false
            }
        }
        if stopRequested { return true }
        logger.debug(
            "change stream started",
            metadata: [
                "pgrepl.slot": "\(configuration.slot)", "pgrepl.start_lsn": "\(startLSN)", "pgrepl.proto": "\(version)",
            ])

        var assembler = TransactionAssembler(
            decoder: PGOutputDecoder(
                protocolVersion: version, streaming: configuration.streaming && version >= 2 ? .on : .off),
            delivery: configuration.delivery)
        func emit(_ event: PGChangeEvent) throws {
            do {
                try handler(event)
            } catch {
                throw HandlerFailure(error: error)
            }
            count(event)
            if acknowledgeAfterHandler, let lsn = event.acknowledgeLSN { acknowledge(lsn) }
        }
        // The forwarding fence: while a transaction is open, keepalives do not move the flush
        // position (see TransactionAssembler.hasOpenTransaction).
        var holding = false
        try cursor.consumeStream { message in
            try message.withUnsafePayload { payload in try assembler.feed(payload, emit: emit) }
            if assembler.hasOpenTransaction != holding {
                holding.toggle()
                feedback.holdForwarding(holding)
            }
        }
        return true
    }

    private func count(_ event: PGChangeEvent) {
        state.withLock { state in
            var added = 0
            switch event {
            case .transaction(let transaction):
                state.metrics.transactions += 1
                state.metrics.lastCommitTime = transaction.commitTime
                added = transaction.changes.count
            case .commit(let transaction):
                state.metrics.transactions += 1
                state.metrics.lastCommitTime = transaction.commitTime
            case .changes(let batch): added = batch.changes.count
            case .snapshot(let batch): added = batch.rows.count
            default: break
            }
            state.metrics.changes += added
            state.windowChanges += added
            let now = POSIX.monotonicNow()
            if now - state.windowStart >= 1 {
                state.metrics.changesPerSecond = Double(state.windowChanges) / (now - state.windowStart)
                state.windowStart = now
                state.windowChanges = 0
            }
        }
    }

    /// The pgoutput options for this configuration, as the stream sends them at START: for
    /// consumers of the raw pgoutput bytes (`pgrepl stream --format raw`) that want the same stream.
    public func pluginOptions(version: Int, cursor: ReplicationCursor) throws -> ReplicationOptions {
        guard !configuration.publications.isEmpty else {
            throw PGError.programming("a change stream needs at least one publication")
        }
        let names = try configuration.publications.map { try cursor.quoteIdentifier($0, what: "a publication name") }
        var options: ReplicationOptions = [
            "proto_version": .int(version), "publication_names": .string(names.joined(separator: ",")),
        ]
        if configuration.binary { options.set("binary", true) }
        if configuration.streaming, version >= 2 { options.set("streaming", true) }
        if configuration.messages { options.set("messages", true) }
        if configuration.twoPhase, version >= 3 { options.set("two_phase", true) }
        return options
    }

    /// pgoutput's highest protocol for a server version: 4 from 16, 3 from 15, 2 from 14, else 1.
    public static func highestProtocolVersion(serverVersion: Int) -> Int {
        switch serverVersion {
        case 160000...: return 4
        case 150000..<160000: return 3
        case 140000..<150000: return 2
        default: return 1
        }
    }
}
