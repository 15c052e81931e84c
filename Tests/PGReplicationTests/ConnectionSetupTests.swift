import Testing

@testable import PGReplication

@Suite struct ConnectionSetupTests {
    func rewritten(_ dsn: String, _ type: ReplicationType) throws -> [String: String] {
        Dictionary(
            try ReplicationConnection.parameters(dsn: dsn, for: type).pairs.map { ($0.key, $0.value) },
            uniquingKeysWith: { $1 })
    }

    @Test func logicalKeepsTheDatabaseAndAddsReplicationDatabase() throws {
        let parameters = try rewritten("host=db user=u dbname=app", .logical)
        #expect(parameters["replication"] == "database")
        #expect(parameters["dbname"] == "app")
        #expect(parameters["client_encoding"] == "UTF8")
    }

    @Test func physicalForcesDbnameReplication() throws {
        let parameters = try rewritten("postgresql://u:pw@db:5433/app?sslmode=require", .physical)
        #expect(parameters["replication"] == "true")
        #expect(parameters["dbname"] == "replication")
        #expect(parameters["port"] == "5433")
        #expect(parameters["sslmode"] == "require")
    }

    @Test func displayHidesThePassword() throws {
        let shown = try ReplicationConnection.parameters(dsn: "user=u password='s3 cr3t' dbname=x", for: .logical)
            .redacted
        #expect(shown.contains("password=xxx"))
        #expect(!shown.contains("s3"))
    }

    @Test func badDSNIsAProgrammingErrorWithoutTheSecret() {
        do {
            _ = try ReplicationConnection.parameters(dsn: "password=hunter2 nonsense", for: .logical)
            Issue.record("expected an error")
        } catch let error as PGError {
            #expect(error.kind == .programming)
            #expect(!error.description.contains("hunter2"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func connectionFailureIsOperationalAndHidesThePassword() {
        do {
            _ = try LogicalReplicationConnection("host=127.0.0.1 port=1 user=u password=hunter2 connect_timeout=2")
            Issue.record("expected an error")
        } catch let error as PGError {
            #expect(error.kind == .operational)
            #expect(error.connectionLost)
            #expect(!error.description.contains("hunter2"))
            #expect(!error.debugDescription.contains("hunter2"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func optionsKeepOrderAndRenderBooleansAsTrueFalse() {
        var options: ReplicationOptions = ["proto_version": 4, "publication_names": "a,b", "binary": true]
        options.set("messages", false)
        options.set("binary", false)
        #expect(options.pairs.map(\.key) == ["proto_version", "publication_names", "binary", "messages"])
        #expect(options.pairs.map(\.value.description) == ["4", "a,b", "false", "false"])
    }
}
