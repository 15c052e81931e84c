extension PGError {
    /// The error a failed result stands for (psycopg2's `pq_raise` in `psycopg/pqpath.c`), with the
    /// improvement that an empty result message falls back to the connection's message instead of
    /// "no message from the libpq".
    static func from(_ result: PQResult?, connection: PQConnection, command: String?) -> PGError {
        let lost = !connection.isOK
        guard let result else {
            return PGError(.operational, connection.errorMessage, command: command, connectionLost: lost)
        }
        let sqlState = result.errorField(UInt8(ascii: "C")).map(SQLState.init(rawValue:))
        var message = result.errorField(UInt8(ascii: "M")) ?? result.errorMessage
        if message.isEmpty { message = connection.errorMessage }
        if message.isEmpty { message = "the command ended with status \(result.statusName) and no message" }
        let kind: Kind
        if let sqlState {
            kind = PGError.kind(for: sqlState)
        } else {
            kind = lost ? .operational : .database
        }
        return PGError(
            kind, message, sqlState: sqlState,
            severity: result.errorField(UInt8(ascii: "V")) ?? result.errorField(UInt8(ascii: "S")),
            detail: result.errorField(UInt8(ascii: "D")), hint: result.errorField(UInt8(ascii: "H")),
            command: command, connectionLost: lost)
    }

    /// A libpq failure without a result (a failed read, write or flush): `OperationalError` with
    /// libpq's own message, marked as a lost connection when libpq says so.
    static func connectionFailure(_ connection: PQConnection, while action: String) -> PGError {
        let text = connection.errorMessage
        let lost = !connection.isOK
        return PGError(
            .operational, text.isEmpty ? "\(action) failed" : text,
            sqlState: lost ? .connectionFailure : nil, connectionLost: lost)
    }

    /// A failed connection attempt, from libpq's message in verbose form: when the server
    /// refused it (`FATAL:  28P01: password authentication failed …`), its SQLSTATE and message
    /// (without the code and the LOCATION line); otherwise (no server answered) 08006, connection
    /// failure. Both are marked as a lost connection.
    static func connectFailure(verboseMessage: String) -> PGError {
        var sqlState = SQLState.connectionFailure
        var lines: [Substring] = []
        for line in verboseMessage.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("LOCATION:  ") { continue }
            var line = line
            for severity in ["FATAL:  ", "ERROR:  ", "PANIC:  "] {
                guard let range = line.range(of: severity) else { continue }
                let rest = line[range.upperBound...]
                let code = rest.prefix(5)
                guard code.count == 5, rest.dropFirst(5).hasPrefix(": "),
                    code.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber) })
                else { continue }
                if sqlState == .connectionFailure { sqlState = SQLState(rawValue: String(code)) }
                line = line[..<range.upperBound] + rest.dropFirst(7)
                break
            }
            lines.append(line)
        }
        let message = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        return PGError(
            sqlState == .connectionFailure ? .operational : PGError.kind(for: sqlState), message,
            sqlState: sqlState, connectionLost: true)
    }
}
