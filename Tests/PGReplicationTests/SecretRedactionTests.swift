import PGReplication
import Testing

/// Found by the reliability work: libpq's conninfo parse errors quote the input, so an invalid
/// DSN put its password into `PGError.message` (a URI whole, or a word of a password with a space).
@Suite struct SecretRedactionTests {
    static let password = "hunter2"

    @Test(arguments: [
        "postgresql://repl:hunter2@[::1/db",
        "postgresql://repl:hunter2@host/db?sslmode=require&x",
        "postgres://repl:hunter2@host/db?foo=bar",
        "host=127.0.0.1 password=hun hunter2",
        "host=127.0.0.1 password='hunter2",
        "host=127.0.0.1 hunter2 password=x",
        "host=127.0.0.1 port=1 password=x hunter2=",
    ])
    func invalidDSNErrorsDoNotHoldThePassword(dsn: String) {
        for make in [
            { _ = try LogicalReplicationConnection(dsn) }, { _ = try PhysicalReplicationConnection(dsn) },
            { _ = try PGConnection(dsn) },
        ] as [() throws -> Void] {
            do {
                try make()
                Issue.record("\(dsn) was accepted")
            } catch let error as PGError {
                #expect(error.kind == .programming)
                #expect(error.message.hasPrefix("invalid DSN: "))
                for text in [error.description, error.debugDescription, "\(error)"] {
                    #expect(!text.contains(Self.password), "\(text)")
                }
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    @Test func parseErrorsWithoutAPasswordStayWhole() {
        let error = #expect(throws: PGError.self) { _ = try PGConnection("host=127.0.0.1 hots=x") }
        #expect(error?.message == "invalid DSN: invalid connection option \"hots\"")
    }
}
