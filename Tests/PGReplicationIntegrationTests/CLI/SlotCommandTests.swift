import Foundation
import PGLocalCluster
import PGReplication
import Testing

@Suite("pgrepl slot")
struct SlotCommandTests {
    @Test("create, list, status and drop a logical slot", .requires(.testDecoding))
    func logicalRoundTrip() throws {
        let dsn = try TestServer.dsn()
        let slot = TestServer.uniqueName("cli_slot")
        defer { TestServer.dropSlot(slot) }

        let created = try pgrepl("slot", "create", "--dsn", dsn, "--slot", slot, "--plugin", "test_decoding")
        #expect(created.status == 0, "\(created)")
        #expect(created.stdout.contains("created logical slot \"\(slot)\" (test_decoding) at "))
        #expect(try TestServer.slotExists(slot))

        let table = try pgrepl("slot", "list", "--dsn", dsn)
        #expect(table.status == 0, "\(table)")
        let header = table.stdout.split(separator: "\n").first.map { $0.split(separator: " ").map(String.init) }
        let major = ServerFeatures.current.majorVersion
        #expect(
            header
                == [
                    "name", "type", "plugin", "database", "active", "confirmed_flush_lsn", "restart_lsn", "wal_status",
                ] + (major >= 16 ? ["conflicting"] : [])
                + (major >= 17 ? ["failover", "synced", "inactive_since"] : []) + ["invalidation_reason"])
        let row = table.stdout.split(separator: "\n").first { $0.hasPrefix(slot + " ") }
        #expect(
            row.map { $0.split(separator: " ").prefix(5).map(String.init) } == [
                slot, "logical", "test_decoding", "postgres", "no",
            ])

        let listed = try decodeJSON([[String: JSONValue]].self, try pgrepl("slot", "list", "--dsn", dsn, "--json"))
        #expect(listed.contains { $0["slot_name"] == .string(slot) })

        // WAL that no logical slot decodes (other tests' slots must not see it).
        try TestServer.sql("CHECKPOINT")
        let status = try decodeJSON(
            [String: JSONValue].self, try pgrepl("slot", "status", "--dsn", dsn, "--slot", slot, "--json"))
        #expect(status["slot_type"] == .string("logical"))
        #expect(status["active"] == .bool(false))
        #expect(status["active_pid"] == .null)
        #expect(status["wal_status"] == .string("reserved"))
        guard case .string(let confirmed)? = status["confirmed_flush_lsn"],
            case .string(let current)? = status["current_lsn"],
            case .number(let lag)? = status["lag_bytes"]
        else {
            Issue.record("status fields missing: \(status)")
            return
        }
        #expect(Double(try LSN(current).distance(from: try LSN(confirmed))) == lag)
        #expect(lag > 0)

        let lines = try pgrepl("slot", "status", "--dsn", dsn, "--slot", slot)
        #expect(lines.status == 0)
        #expect(lines.stdout.contains("confirmed_flush_lsn  \(confirmed)"))

        let dropped = try pgrepl("slot", "drop", "--dsn", dsn, "--slot", slot)
        #expect(dropped.status == 0, "\(dropped)")
        #expect(try !TestServer.slotExists(slot))
        expectFailure(
            try pgrepl("slot", "status", "--dsn", dsn, "--slot", slot), status: 3,
            containing: ["\"\(slot)\" does not exist", "SQLSTATE 42704"])
    }

    @Test("a physical slot reserves WAL and measures lag from restart_lsn")
    func physicalSlot() throws {
        let dsn = try TestServer.dsn()
        let slot = TestServer.uniqueName("cli_phys")
        defer { TestServer.dropSlot(slot) }
        let created = try pgrepl("slot", "create", "--dsn", dsn, "--slot", slot, "--physical")
        #expect(created.status == 0, "\(created)")
        let status = try decodeJSON(
            [String: JSONValue].self, try pgrepl("slot", "status", "--dsn", dsn, "--slot", slot, "--json"))
        #expect(status["slot_type"] == .string("physical"))
        #expect(status["confirmed_flush_lsn"] == .null)
        guard case .string(let restart)? = status["restart_lsn"], case .string(let current)? = status["current_lsn"],
            case .number(let lag)? = status["lag_bytes"]
        else {
            Issue.record("status fields missing: \(status)")
            return
        }
        #expect(Double(try LSN(current).distance(from: try LSN(restart))) == lag)
    }

    @Test("errors are one line with the SQLSTATE and a non-zero status")
    func slotErrors() throws {
        let dsn = try TestServer.dsn()
        let missing = TestServer.uniqueName("cli_missing")
        expectFailure(
            try pgrepl("slot", "drop", "--dsn", dsn, "--slot", missing), status: 3,
            containing: ["dropping slot \"\(missing)\"", "\"\(missing)\" does not exist", "(SQLSTATE 42704)"])

        let slot = TestServer.uniqueName("cli_dup")
        defer { TestServer.dropSlot(slot) }
        #expect(try pgrepl("slot", "create", "--dsn", dsn, "--slot", slot, "--physical").status == 0)
        expectFailure(
            try pgrepl("slot", "create", "--dsn", dsn, "--slot", slot, "--physical"), status: 3,
            containing: ["already exists", "(SQLSTATE 42710)"])

        expectFailure(
            try pgrepl(
                "slot", "create", "--dsn", dsn, "--slot", TestServer.uniqueName("cli_plugin"), "--plugin",
                "no_such_plugin"),
            status: 3,
            // PostgreSQL 18 refuses a library outside output_plugin_libraries first (42501).
            containing: [
                "no_such_plugin", ServerFeatures.current.majorVersion >= 18 ? "SQLSTATE 42501" : "SQLSTATE 58P01",
            ])
        expectFailure(
            try pgrepl("slot", "create", "--dsn", dsn), status: 1, containing: ["--slot", "pgrepl slot create --help"])
        expectFailure(
            try pgrepl("slot", "create", "--dsn", dsn, "--slot", "x", "--physical", "--two-phase"), status: 1,
            containing: ["--two-phase"])
    }

    @Test("a server that is down: one line, status 2, no password")
    func serverDown() throws {
        let port = try unusedPort()
        let result = try pgrepl(
            "slot", "list", "--dsn", "host=127.0.0.1 port=\(port) user=postgres password=s3cret-pw connect_timeout=5")
        expectFailure(result, status: 2, containing: ["connecting", "\(port)"])
        #expect(!result.stderr.contains("s3cret-pw"))
        let uri = try pgrepl(
            "slot", "drop", "--slot", "x", "--dsn", "postgresql://postgres:s3cret-pw@127.0.0.1:\(port)/postgres")
        expectFailure(uri, status: 2, containing: ["connecting for replication"])
        #expect(!uri.stderr.contains("s3cret-pw"))
        // libpq's sentences stay sentences on the one line.
        #expect(!result.stderr.contains("refused Is"), "\(result.stderr)")
    }

    @Test("a port that is no port is a bad DSN (status 1), as a URI and as keywords")
    func badPort() throws {
        for dsn in ["postgresql://postgres@127.0.0.1:99999999/postgres", "host=127.0.0.1 port=abc user=postgres"] {
            expectFailure(try pgrepl("slot", "list", "--dsn", dsn), status: 1, containing: ["invalid DSN", "port"])
        }
    }

    @Test("dropping a slot in use says how to wait for it")
    func dropInUse() throws {
        let dsn = try TestServer.dsn()
        let slot = TestServer.uniqueName("cli_busy")
        defer { TestServer.dropSlot(slot) }
        #expect(try pgrepl("slot", "create", "--dsn", dsn, "--slot", slot, "--physical").status == 0)
        let holder = try PhysicalReplicationConnection(dsn)
        defer { holder.close() }
        let cursor = try holder.cursor()
        try cursor.startReplication(
            slotName: slot, slotType: .physical, startLSN: try cursor.identifySystem().xlogPosition)
        let result = try pgrepl("slot", "drop", "--dsn", dsn, "--slot", slot)
        expectFailure(result, status: 3, containing: ["SQLSTATE 55006", "--wait"])
    }

    @Test("--version, help and unknown arguments")
    func rootCommand() throws {
        let version = try pgrepl("--version")
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3)
        let help = try pgrepl("--help")
        #expect(help.status == 0)
        #expect(help.stdout.contains("slot") && help.stdout.contains("receivewal") && help.stdout.contains("130"))
        expectFailure(try pgrepl("no-such-command"), status: 1, containing: ["no-such-command"])
    }
}

/// A local TCP port with nothing listening on it (bound, then released).
func unusedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CLITestError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw CLITestError("bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A JSON value, for checking `--json` output.
enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Decodable's way to find which JSON type a value has: each failed try is "not this type",
        // and a value of none of them throws at the last decode.
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}

func decodeJSON<T: Decodable>(_ type: T.Type, _ result: RunResult) throws -> T {
    guard result.status == 0 else { throw CLITestError("pgrepl failed: \(result)") }
    return try JSONDecoder().decode(T.self, from: Data(result.stdout.utf8))
}
