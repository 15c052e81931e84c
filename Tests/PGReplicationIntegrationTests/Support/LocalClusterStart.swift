/// Starts the throwaway cluster (wired to PGLocalCluster).
func startLocalCluster() throws -> String {
    throw TestSetupError(
        "no PostgreSQL for the integration tests: set PGREPL_TEST_DSN")
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
