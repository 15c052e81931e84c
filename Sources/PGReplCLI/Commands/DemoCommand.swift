import ArgumentParser
import Foundation
import PGLocalCluster
import PGReplication
import PGSupport

/// `pgrepl demo`: a throwaway PostgreSQL, a small live workload, and its changes decoded as they happen.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start a throwaway PostgreSQL, run a small workload and print its changes as they happen.",
        discussion: """
            The cluster lives in a temporary folder (initdb, wal_level=logical, its own port; as the postgres \
            user when run as root) and is stopped and removed on exit, Ctrl-C included. With --dsn the demo uses \
            that server instead, in a schema, publication and temporary slot of its own (pgrepl_demo_<hex>), \
            dropped at the end. Changes go to stdout (text, or JSON lines as pgrepl stream --format json \
            writes them); progress and the summary go to stderr.
            """)

    @Option(help: ArgumentHelp("Use this server instead of a throwaway local one.", valueName: "dsn"))
    var dsn: String?
    @Flag(help: "Print JSON lines (the schema of pgrepl stream --format json) instead of text.") var json = false
    @Option(help: ArgumentHelp("Stop after this many seconds (the workload is paced to fit).", valueName: "seconds"))
    var duration: Double?

    func validate() throws {
        if let duration, !(duration >= 1 && duration <= 3600) {
            throw ValidationError("--duration must be between 1 and 3600 seconds")
        }
    }

    private func say(_ text: String) { Output.printError("pgrepl demo: " + text) }

    func run() throws(CLIError) {
        let stopper = SignalStopper()
        defer { stopper.cancel() }
        var cluster: LocalCluster?
        defer {
            if let cluster {
                cluster.destroy()
                say("stopped PostgreSQL and removed \(cluster.socketDirectory)")
            }
        }
        let serverDSN: String
        if let dsn {
            serverDSN = dsn
        } else {
            say("starting a throwaway PostgreSQL (initdb, pg_ctl start) …")
            do {
                let started = try LocalCluster.start()
                cluster = started
                serverDSN = started.dsn()
                say("PostgreSQL \(started.serverVersion) in \(started.socketDirectory), port \(started.port)")
            } catch {
                if let signal = stopper.signalReceived { throw interrupted(signal) }
                throw CLIError(
                    .connection, "starting a local PostgreSQL", String(describing: error),
                    hint: "install PostgreSQL (apt-get install postgresql) or pass --dsn")
            }
        }
        if let signal = stopper.signalReceived { throw interrupted(signal) }
        let names = dsn == nil ? DemoNames.throwaway : DemoNames.unique()
        try withDemoObjects(names, dsn: serverDSN) { () throws(CLIError) in
            try stream(names, dsn: serverDSN, stopper: stopper)
        }
        if let signal = stopper.signalReceived { throw interrupted(signal) }
    }

    private func interrupted(_ signal: Int32) -> CLIError {
        CLIError(.interrupted, "", "stopped by \(signal == SIGTERM ? "SIGTERM" : "SIGINT")")
    }

    /// Creates the tables and the publication, runs `body`, and drops them again.
    private func withDemoObjects(_ names: DemoNames, dsn: String, _ body: () throws(CLIError) -> Void) throws(CLIError)
    {
        let options = try ConnectionOptions.forDSN(dsn)
        let sql = try options.sqlConnection()
        defer { sql.close() }
        try attempt("creating the demo tables and publication") { try names.create(sql) }
        say("created \(names.table("customers")), \(names.table("orders")) and publication \(names.publication)")
        defer {
            do {
                try names.drop(sql)
                if names.ownSchema { say("dropped schema \(names.schema) and publication \(names.publication)") }
            } catch {
                Output.printError(CLIError.wrapping(error, context: "dropping the demo objects").line)
            }
        }
        try body()
    }

    private func stream(_ names: DemoNames, dsn: String, stopper: SignalStopper) throws(CLIError) {
        var configuration = ChangeStream.Configuration(dsn: dsn, slot: names.slot, publications: [names.publication])
        configuration.createSlot = true
        configuration.temporarySlot = true
        configuration.messages = true
        configuration.acknowledgement = .manual
        configuration.reconnect = .never
        configuration.delivery = .chunked(batchSize: 1000)
        configuration.keepTuples = true
        let format: ChangeFormat = json ? .json : .text
        let encoder = try format.encoder(FormatOptions()) { () throws(CLIError) in
            try ConnectionOptions.forDSN(dsn).catalogConnection(policy: configuration.reconnect)
        }
        let stream = ChangeStream(configuration)
        let workload = DemoWorkload(dsn: dsn, names: names, duration: duration)
        let seen = SeenTransactions()
        stopper.attach {
            workload.stop()
            stream.stop()
        }
        let started = ContinuousClock.now
        // Ends the stream once the workload's last transaction was printed, the duration is over,
        // or the workload failed.
        let watch = Periodic(every: 0.1) {
            if let duration, ContinuousClock.now - started >= .milliseconds(Int(duration * 1000)) {
                workload.stop()
                stream.stop()
            }
            switch workload.result {
            case .success(let last)?: if seen.contains(last) { stream.stop() }
            case .failure?: stream.stop()
            case nil: break
            }
        }
        defer { watch.cancel() }
        say(
            "streaming slot \(names.slot) (temporary) while a workload runs\(duration.map { " for \(Int($0)) s" } ?? ""); Ctrl-C stops"
        )
        workload.start()
        defer {
            workload.stop()
            workload.wait()
        }
        let writer = StreamWriter(encoder: encoder, output: LineOutput())
        do {
            try stream.consume { event in
                if let lsn = try writer.write(event) { stream.acknowledge(lsn) }
                if case .commit(let transaction) = event { seen.insert(transaction.xid) }
            }
        } catch {
            throw CLIError.wrapping(error, context: "streaming changes")
        }
        workload.stop()
        workload.wait()
        if case .failure(let error)? = workload.result, !(error is CancellationError) {
            throw CLIError.wrapping(error, context: "running the demo workload")
        }
        let metrics = stream.metrics
        say(
            "\(counted(writer.transactions, "transaction")), \(counted(writer.changes, "change")), lag \(metrics.lagBytes) bytes"
                + "; the rolled-back transaction was not delivered")
    }
}

/// The xids of the transactions printed so far, shared with the watch timer.
final class SeenTransactions: Sendable {
    private let xids = Locked<Set<UInt32>>([])

    func insert(_ xid: UInt32) { xids.withLock { _ = $0.insert(xid) } }
    func contains(_ xid: UInt32) -> Bool { xids.withLock { $0.contains(xid) } }
}
