import Foundation
import Logging
import PGOutput
import PGSupport

extension ChangeStream {
    // MARK: - The run and reconnect loop

    /// A pgoutput message as it came, before the stream decodes it; a no-op unless asked for.
    package typealias RawMessageHandler = (_ payload: UnsafeRawBufferPointer, _ lsn: LSN) throws -> Void

    func runLoop(
        acknowledgeAfterHandler: Bool, rawMessages: RawMessageHandler? = nil,
        _ handler: (PGChangeEvent) throws -> Void
    ) throws {
        let first = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard first else { throw PGError.programming("a ChangeStream runs once; make a new one to stream again") }
        try configuration.validate()
        let monitor = configuration.heartbeat.map { HeartbeatMonitor($0, slot: configuration.slot) }
        let context = self.context
        monitor?.start(context)
        defer { monitor?.stop() }
        if let backfill = configuration.backfill, !backfill.tables.isEmpty {
            backfills.enqueue(backfill, context: context)
        }
        backfills.begin(context)
        defer { backfills.end() }
        var attempt = 0
        // What the configuration asks to create (and the initial snapshot) is done on the first
        // connection that gets that far, not merely the first attempt.
        var prepared = false
        var firstFailure: Double?
        while !stopRequested {
            var session = Session()
            let cause: any Error
            do {
                try connectAndStream(
                    prepare: !prepared, session: &session, monitor: monitor,
                    acknowledgeAfterHandler: acknowledgeAfterHandler, rawMessages: rawMessages, handler)
                if let failure = state.withLock({ $0.failure }) { throw failure }
                if stopRequested { return }
                cause = PGError(.operational, "the server ended the replication stream", connectionLost: true)
            } catch let failure as HandlerFailure {
                throw failure.error
            } catch {
                if let failure = state.withLock({ $0.failure }) { throw failure }
                if let typed = try diagnoseSlot(after: error) { throw typed }
                guard Self.isRetryable(error) else { throw cannotStart(error, streamed: session.startedAt != nil) }
                // What a stop interrupted (a connect, a query) ends the run as a stop does,
                // whatever the reconnect policy.
                if stopRequested { return }
                cause = error
            }
            prepared = prepared || session.prepared
            // A session that made progress starts the budget afresh: the budget is for
            // consecutive failures, not for the blips of a stream's whole life.
            if session.madeProgress {
                attempt = 0
                firstFailure = nil
            }
            attempt += 1
            let now = POSIX.monotonicNow()
            let failingFor = now - (firstFailure ?? now)
            if firstFailure == nil { firstFailure = now }
            if let reason = configuration.reconnect.exhausted(
                attempt: attempt, failingFor: .seconds(exactly: failingFor))
            {
                throw ChangeStreamError(
                    .reconnectFailed, "gave up reconnecting after \(reason): \(cause)", slot: configuration.slot,
                    underlying: cause as? PGError)
            }
            let delay = configuration.reconnect.delay(attempt: attempt)
            logger.warning(
                "replication connection lost; reconnecting",
                metadata: [
                    "pgrepl.slot": "\(configuration.slot)", "pgrepl.attempt": "\(attempt)",
                    "pgrepl.delay": "\(String(format: "%.2f", delay.timeInterval))", "pgrepl.error": "\(cause)",
                ])
            state.withLock { $0.metrics.reconnects += 1 }
            instruments.reconnects.increment()
            wake.sleep(delay.timeInterval)
        }
    }

    /// An error no reconnect can cure, before the stream started: a refused login, a
    /// configuration the server cannot serve. Once streamed, the error is thrown as it is, and so
    /// is an argument the library refused itself (`.programming` without a SQLSTATE).
    private func cannotStart(_ error: any Error, streamed: Bool) -> any Error {
        guard !streamed, let pgError = error as? PGError,
            pgError.sqlState != nil || pgError.kind != .programming
        else { return error }
        return ChangeStreamError(
            .cannotStart, "the stream cannot start: \(pgError.message)", slot: configuration.slot, underlying: pgError)
    }

    /// What one connection's life achieved, known even when it ends in an error.
    struct Session {
        /// The configuration's slot, publications and initial snapshot are in place.
        var prepared = false
        /// When the stream started (monotonic seconds), once START succeeded.
        var startedAt: Double?
        /// Whether the handler got an event.
        var delivered = false

        /// A session made progress when it delivered an event or streamed for a while
        /// (``progressInterval``): an idle stream that runs for hours between blips counts.
        var madeProgress: Bool {
            delivered || startedAt.map { POSIX.monotonicNow() - $0 >= ChangeStream.progressInterval } ?? false
        }
    }

    /// How long a session must stream without events for its end to count as progress.
    static let progressInterval = 10.0

    /// An error the handler threw, carried out of the cursor's loop unchanged.
    struct HandlerFailure: Error {
        var error: any Error
    }

    /// One connection's life.
    private func connectAndStream(
        prepare: Bool, session: inout Session, monitor: HeartbeatMonitor?, acknowledgeAfterHandler: Bool,
        rawMessages: RawMessageHandler?, _ handler: (PGChangeEvent) throws -> Void
    ) throws {
        let connection = try LogicalReplicationConnection(configuration.dsn, logger: logger, interruption: interruption)
        defer { connection.close() }
        let cursor = try connection.cursor()
        if prepare {
            try self.prepare(connection: connection, cursor: cursor, handler: handler)
        }
        session.prepared = true
        let version =
            configuration.protocolVersion ?? connection.version.highestProtocolVersion
        let startLSN = try landing(cursor: cursor)
        // Acknowledged positions reach the server within 10 ms, not on the next timed status
        // update (up to `statusInterval` later): the slot follows the consumer closely.
        cursor.promptFeedbackInterval = 0.01
        cursor.receiveTimeout = configuration.receiveTimeout?.timeInterval
        try cursor.startReplication(
            slotName: configuration.slot, startLSN: startLSN,
            options: try configuration.pluginOptions(version: version, cursor: cursor),
            statusInterval: configuration.statusInterval.timeInterval)
        let feedback = try cursor.makeFeedbackHandle()
        let acknowledged = state.withLock { state in
            state.stopHandle = cursor.makeStopHandle()
            state.feedback = feedback
            state.metrics.isConnected = true
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
                state.metrics.isConnected = false
            }
        }
        session.startedAt = POSIX.monotonicNow()
        if stopRequested { return }
        logger.debug(
            "change stream started",
            metadata: [
                "pgrepl.slot": "\(configuration.slot)", "pgrepl.start_lsn": "\(startLSN)", "pgrepl.proto": "\(version)",
            ])

        var assembler = TransactionAssembler(
            decoder: PGOutputDecoder(
                protocolVersion: version, streaming: try configuration.streamingMode(version: version)),
            delivery: configuration.delivery)
        assembler.knownTables = state.withLock { $0.knownTables }
        assembler.transactionalMessages = configuration.messages
        assembler.keepTuples = configuration.keepTuples
        assembler.decodeValues = configuration.decodeValues
        assembler.memoryLimit = configuration.transactionMemoryLimit
        if let directory = configuration.spillDirectory { assembler.spillDirectory = directory }
        if !acknowledgeAfterHandler {
            // For an async consumer, the buffered events and the transaction being assembled
            // share one budget (the buffer is empty for a handler).
            let (channel, budget) = (channel, configuration.transactionMemoryLimit)
            assembler.availableMemory = { channel.memoryLeft(of: budget) }
        }
        let logger = logger
        let slot = configuration.slot
        assembler.debugLog = { logger.debug("\($0)", metadata: ["pgrepl.slot": "\(slot)"]) }
        defer {
            let known = assembler.knownTables
            state.withLock { $0.knownTables = known }
        }
        monitor?.reset()
        var delivered = false
        defer { session.delivered = delivered }
        var receivedBytes = 0
        defer { instruments.receivedBytes.increment(by: receivedBytes) }
        func emit(_ event: PGChangeEvent) throws {
            if case .message(let message) = event {
                // A backfill chunk is delivered where the stream reaches its high watermark.
                if message.prefix == Backfill.prefix, let chunk = backfills.chunkEvent(at: message) {
                    try deliver(.snapshot(chunk))
                    return
                }
                // Heartbeats and watermarks are the stream's own; other messages only when asked for.
                if message.prefix == Backfill.prefix || monitor?.received(message, context: context) == true
                    || !configuration.messages
                {
                    // Confirmed when everything delivered before it was acknowledged: an idle
                    // stream's slot then moves, and flush forwarding (which waits for the highest
                    // position received to be confirmed) goes on.
                    let caughtUp = state.withLock { $0.acknowledged >= $0.lastDelivered }
                    if caughtUp { confirm(message.lsn, measuringLatency: false) }
                    return
                }
            }
            backfills.observe(event)
            try deliver(event)
        }
        // The visibility gate: a commit waits here until the server shows it visible. Reading
        // unchanged TOASTed values back waits for the same, with or without the gate.
        let reselecting = configuration.unchangedToast == .reselect
        let visibility =
            configuration.visibility != nil || reselecting
            ? VisibilityCheck(
                configuration.visibility ?? VisibilityGate(), context: context, interruption: interruption
            ) { [wake] in wake.sleep($0) } : nil
        let gate = configuration.visibility == nil ? nil : visibility
        let reselect = visibility.flatMap { check in
            reselecting ? ToastReselect(context: context, interruption: interruption, visibility: check) : nil
        }
        func deliver(_ event: PGChangeEvent) throws {
            if let gate, let commit = VisibilityCheck.commit(of: event) {
                try gate.waitUntilVisible(xid: commit.xid, commitLSN: commit.commitLSN)
            }
            let event = try reselect?.fill(event) ?? event
            if receivedBytes > 0 {
                instruments.receivedBytes.increment(by: receivedBytes)
                receivedBytes = 0
            }
            do {
                try handler(event)
            } catch {
                throw HandlerFailure(error: error)
            }
            // A spilled transaction whose file could not be read back in full was not handled.
            if case .transaction(let transaction) = event, let failure = transaction.changes.readFailure {
                throw failure
            }
            delivered = true
            count(event)
            if let lsn = event.acknowledgeLSN {
                state.withLock { $0.lastDelivered = max($0.lastDelivered, lsn) }
                if acknowledgeAfterHandler { acknowledge(lsn) }
            }
        }
        // The forwarding fence: while a transaction is open, keepalives do not move the flush
        // position (see TransactionAssembler.hasOpenTransaction).
        var holding = false
        cursor.betweenTransactions = true
        // With a heartbeat, an idle stream wakes twice a second to deliver a stall as an event.
        do {
            try cursor.consumeStream(
                idleInterval: monitor == nil ? nil : 0.5,
                onIdle: { if let stall = monitor?.takePendingStall() { try emit(.stalled(stall)) } }
            ) { message in
                receivedBytes &+= message.dataSize
                var open = holding
                try message.withUnsafePayload { payload in
                    if let rawMessages {
                        do {
                            try rawMessages(payload, message.dataStart)
                        } catch {
                            throw HandlerFailure(error: error)
                        }
                    }
                    open = try assembler.feed(payload, lsn: message.dataStart, owner: message.buffer, emit: emit)
                }
                if open != holding {
                    holding.toggle()
                    feedback.holdForwarding(holding)
                    cursor.betweenTransactions = !holding
                }
            }
        } catch let failure as HandlerFailure {
            throw failure
        } catch {
            try closePartialTransactions(assembler, emit: emit)
            throw error
        }
        try closePartialTransactions(assembler, emit: emit)
    }

    /// Where this connection landed: the same database system as before, and a slot whose
    /// confirmed position agrees with what the stream handled (``SlotAheadPolicy``). Returns the
    /// position to start from.
    private func landing(cursor: ReplicationCursor) throws -> LSN {
        let system = try cursor.identifySystem()
        let (first, acknowledged, reported) = state.withLock { state in
            let first = state.systemID
            if first == nil { state.systemID = system.systemID }
            return (first, state.acknowledged, state.metrics.flushedLSN)
        }
        if let first, first != system.systemID {
            throw ChangeStreamError(
                .differentSystem,
                "the server reached on reconnect is a different database system (system identifier \(system.systemID),"
                    + " first \(first)); the stream does not continue a slot of another system",
                slot: configuration.slot)
        }
        // A missing slot fails START with the server's error, which the diagnosis names.
        guard let slot = try SlotStatus.read(configuration.slot, on: cursor) else {
            return acknowledged > 0 ? acknowledged : (configuration.startLSN ?? 0)
        }
        if let mismatch = slot.mismatch(twoPhase: configuration.twoPhase) {
            let fix =
                mismatch == .decodesPreparedTransactions
                ? ": set twoPhase to get PREPARE, COMMIT PREPARED and ROLLBACK PREPARED as events, or use a slot"
                    + " without two-phase" : ""
            throw ChangeStreamError(
                .cannotStart, "the stream cannot start: \(mismatch)\(fix)", slot: configuration.slot)
        }
        try checkPublications(cursor)
        guard let confirmed = slot.confirmedFlushLSN else {
            return acknowledged > 0 ? acknowledged : (configuration.startLSN ?? 0)
        }
        let metadata: Logger.Metadata = [
            "pgrepl.slot": "\(configuration.slot)", "pgrepl.confirmed_flush_lsn": "\(confirmed)",
            "pgrepl.timeline": "\(system.timeline)",
        ]
        if acknowledged > 0 {
            if confirmed > max(acknowledged, reported) {
                throw ChangeStreamError(
                    .slotMovedElsewhere,
                    "the slot confirmed \(confirmed), past what this stream handled (\(acknowledged)) and reported"
                        + " (\(reported)): something else moved it, and the changes between were never delivered",
                    slot: configuration.slot)
            }
            if confirmed < acknowledged {
                logger.info(
                    "the slot is behind what the stream handled; starting at the stream's position",
                    metadata: metadata.merging(["pgrepl.start_lsn": "\(acknowledged)"]) { $1 })
            }
            return acknowledged
        }
        guard let start = configuration.startLSN, start > 0 else { return 0 }
        if confirmed > start {
            let message =
                "the slot confirmed \(confirmed), past startLSN \(start): transactions between them, if any, are not"
                + " sent again (keepalives of the previous run may have moved the slot, or something else did)"
            switch configuration.slotAhead {
            case .fail: throw ChangeStreamError(.slotMovedElsewhere, message, slot: configuration.slot)
            case .warn: logger.warning("\(message)", metadata: metadata)
            }
        } else if confirmed < start {
            logger.info(
                "the slot is behind startLSN; starting there (the server skips what ends before it)",
                metadata: metadata.merging(["pgrepl.start_lsn": "\(start)"]) { $1 })
        }
        return start
    }

    /// Every configured publication exists: the server itself says so only when the first change
    /// arrives.
    func checkPublications(_ cursor: ReplicationCursor) throws {
        if let missing = try Publication.firstMissing(configuration.publications, on: cursor) {
            throw ChangeStreamError(
                .cannotStart, "the stream cannot start: publication \"\(missing)\" does not exist",
                slot: configuration.slot,
                underlying: PGError(
                    .programming, "publication \"\(missing)\" does not exist", sqlState: .undefinedObject))
        }
    }

    /// Chunked delivery: the stream of this connection ends (lost, stopped, or ended by the
    /// server) with transactions begun and not finished. The server sends them again from their
    /// start on the next connection, so each is closed first with an abort of the whole
    /// transaction (``PGTransactionAbort/Reason/interrupted``): a consumer drops what it got of
    /// it, exactly as for a rollback, and then sees it again from its begin.
    private func closePartialTransactions(
        _ assembler: TransactionAssembler, emit: (PGChangeEvent) throws -> Void
    )
        throws
    {
        guard assembler.isChunked else { return }
        for xid in assembler.openTransactionXIDs {
            try emit(.abort(PGTransactionAbort(xid: xid, subtransactionXID: xid, reason: .interrupted)))
        }
    }

    private func count(_ event: PGChangeEvent) {
        state.withLock { state in
            var added = 0
            switch event {
            case .transaction(let transaction):
                state.metrics.transactions += 1
                state.metrics.lastCommitTime = transaction.commitTime
                added = transaction.changes.count
                instruments.transactions.increment()
            case .commit(let transaction):
                state.metrics.transactions += 1
                state.metrics.lastCommitTime = transaction.commitTime
                instruments.transactions.increment()
            case .changes(let batch): added = batch.changes.count
            case .snapshot(let batch):
                added = batch.rows.count
                if let progress = batch.backfill {
                    state.metrics.backfillRows += added
                    state.metrics.backfillTable = progress.checkpoint.tables.first
                    if state.metrics.copy?.isBackfill == true { state.metrics.copy?.rows += added }
                    instruments.backfillRows.increment(by: added)
                }
            default: break
            }
            if added > 0 { instruments.changes.increment(by: added) }
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

    /// pgoutput's highest protocol for a server version: 4 from 16, 3 from 15, 2 from 14, else 1.
    @available(*, deprecated, message: "use ServerVersion(number:).highestProtocolVersion")
    public static func highestProtocolVersion(serverVersion: Int) -> Int {
        ServerVersion(number: serverVersion).highestProtocolVersion
    }
}

extension ChangeStream.Configuration {
    /// The pgoutput options of this configuration, as the stream sends them at START.
    func pluginOptions(version: Int, cursor: ReplicationCursor) throws -> ReplicationOptions {
        guard !publications.isEmpty else {
            throw PGError.programming("a change stream needs at least one publication")
        }
        let names = try publications.map { try cursor.quoteIdentifier($0, what: "a publication name") }
        var options: ReplicationOptions = [
            "proto_version": .int(version), "publication_names": .string(names.joined(separator: ",")),
        ]
        if binary { options.set("binary", true) }
        switch try streamingMode(version: version) {
        case .off: break
        case .on: options.set("streaming", true)
        case .parallel: options.set("streaming", "parallel")
        }
        // Messages carry the stream's own heartbeats and backfill watermarks (which any stream may
        // start); transactional ones reach the handler only with `messages`.
        if messages || heartbeat != nil || cursor.connection.version.supports(.logicalDecodingMessages) {
            options.set("messages", true)
        }
        if twoPhase, version >= ServerFeature.protocol3TwoPhase.protocolVersion ?? .max {
            options.set("two_phase", true)
        }
        return options
    }

    /// The configured streaming mode, checked against the protocol version the stream uses.
    ///
    /// - Throws: `PGError` (`.notSupported`) when the protocol (and so the server) is too old for it.
    func streamingMode(version: Int) throws -> PGOutputDecoder.StreamingMode {
        if let feature = ServerFeature.needed(for: streaming), let needed = feature.protocolVersion, version < needed {
            throw PGError(
                .notSupported,
                "streaming = .\(streaming) needs pgoutput protocol \(needed) (PostgreSQL \(feature.since) or later); this"
                    + " stream uses protocol \(version)"
                    + (streaming == .parallel && version >= ServerFeature.protocol2Streaming.protocolVersion ?? .max
                        ? "; .on works with it" : ""))
        }
        return streaming
    }
}
