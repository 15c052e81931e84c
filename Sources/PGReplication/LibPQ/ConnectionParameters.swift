/// Keyword/value connection parameters prepared from a conninfo string or `postgresql://` URI:
/// the one place a DSN is checked, parsed, completed and shown.
struct ConnectionParameters {
    private(set) var pairs: [(key: String, value: String)]

    /// Parses `dsn` (`PQconninfoParse`) into the parameters it gives explicitly, and declares
    /// `client_encoding=UTF8` unless it names an encoding: every text the package sends and reads
    /// is UTF-8.
    ///
    /// - Throws: `PGError` (`.programming`) for a NUL byte or a DSN libpq cannot parse; the
    ///   message never quotes a password.
    init(dsn: String) throws {
        guard !dsn.utf8.contains(0) else { throw PGError.programming("the DSN must not contain NUL bytes") }
        switch PQConnection.parseConninfo(dsn) {
        case .success(let pairs): self.pairs = pairs
        case .failure(let error): throw PGError(.programming, "invalid DSN: \(error.message)")
        }
        // libpq checks these only when it connects, and then as a failed connection: they are
        // the DSN's mistakes.
        for (key, value) in pairs where key == "port" {
            for port in value.split(separator: ",", omittingEmptySubsequences: false)
            where !port.isEmpty && !(Int(port).map { (1...65535).contains($0) } ?? false) {
                throw PGError(.programming, "invalid DSN: port \"\(port)\" is not a port number (1 to 65535)")
            }
        }
        setDefault("client_encoding", "UTF8")
    }

    /// Sets a parameter, replacing any value given.
    mutating func set(_ key: String, _ value: String) {
        pairs.removeAll { $0.key == key }
        pairs.append((key, value))
    }

    /// Sets a parameter unless one was given.
    mutating func setDefault(_ key: String, _ value: String) {
        if !pairs.contains(where: { $0.key == key }) { pairs.append((key, value)) }
    }

    /// Adds command-line options for the server's session (the `options` keyword) after any given.
    mutating func append(toOptions options: String) {
        let given = pairs.last { $0.key == "options" }?.value ?? ""
        set("options", given.isEmpty ? options : given + " " + options)
    }

    /// Connects without blocking the thread beyond one wait slice at a time
    /// (`PQconnectStartParams` and `PQconnectPoll`), so that a stop request or the receive
    /// timeout ends a connect to a server that does not answer. `connect_timeout`, which libpq
    /// applies only when it waits itself, is applied here to the whole attempt.
    ///
    /// - Throws: `PGError` (`.operational`, connection lost) with libpq's message when the
    ///   connection fails, or when it was stopped or timed out.
    func connect(interruption: Interruption = .none) throws -> PQConnection {
        let pq = PQConnection.connectStart(pairs)
        pq.setVerboseErrors(true)
        let start = POSIX.monotonicNow()
        var limit = interruption
        if let seconds = pairs.last(where: { $0.key == "connect_timeout" }).flatMap({ Double($0.value) }), seconds > 0 {
            // libpq's rule: at least 2 seconds.
            limit.timeout = min(limit.timeout ?? .infinity, max(2, seconds))
        }
        var step = PQConnection.ConnectPoll.writing
        while true {
            switch step {
            case .ok:
                pq.setVerboseErrors(false)
                return pq
            case .failed:
                let error = PGError.connectFailure(verboseMessage: pq.errorMessage)
                pq.finish()
                throw error
            case .reading, .writing:
                let ready: POSIX.Readiness
                do {
                    try limit.check(since: start, "connecting")
                    ready = try limit.wait(on: pq, forWriting: step == .writing)
                } catch let error as PGError {
                    pq.finish()
                    var lost = error
                    lost.connectionLost = true
                    throw lost
                }
                if ready.readable || ready.writable || pq.socket < 0 { step = pq.connectPoll() }
            }
        }
    }

    /// The parameters as a conninfo string, with every secret shown as `xxx` (as psycopg2 shows
    /// the password).
    var redacted: String {
        pairs.map { key, value in
            let shown = Self.secretKeys.contains(key) ? "xxx" : value
            let needsQuotes = shown.isEmpty || shown.contains { $0 == " " || $0 == "'" || $0 == "\\" }
            let quoted =
                needsQuotes
                ? "'" + shown.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
                    + "'"
                : shown
            return "\(key)=\(quoted)"
        }.joined(separator: " ")
    }

    /// The libpq keywords whose values are secrets.
    static let secretKeys: Set<String> = ["password", "sslpassword"]
}
