import Foundation

/// What the PostgreSQL build the tests run against has, for tests that need more than the core:
/// TLS, the test_decoding plugin, the wal2json plugin, the citext extension.
///
/// Read from the server binaries the test support uses (`pg_config` beside them). With
/// `PGREPL_TEST_DSN` (an external server), every feature is assumed. `PGREPL_REQUIRE_FEATURES`
/// (a comma-separated list, or `all`) makes a feature required: a lane that must run every test
/// (PostgreSQL 15 from apt) then fails where the feature is missing instead of naming a skip.
public struct ServerFeatures: Sendable, Hashable {
    public enum Feature: String, Sendable, Hashable, CaseIterable {
        case ssl
        case testDecoding = "test_decoding"
        case wal2json
        /// The citext extension (contrib), for keys of an extension type.
        case citext
        /// Debezium 3.6.3's embedded engine (`java`, and its jars in `PGREPL_DEBEZIUM_JARS`,
        /// which `Scripts/debezium/fetch.sh` fetches) beside a server with hstore (contrib), for
        /// the differential test of `--format debezium`.
        case debezium
    }

    /// The server's major version (15, 16, 18 …), 0 when unknown.
    public var majorVersion: Int
    public var available: Set<Feature>
    public var required: Set<Feature>

    /// The features of the server the tests use.
    public static let current = ServerFeatures.detect()

    /// Whether tests that need `feature` run: it is there, or it is required (and its absence
    /// fails them).
    public func runs(_ feature: Feature) -> Bool { available.contains(feature) || required.contains(feature) }

    /// Why a test that needs `feature` does not run here.
    public func reason(_ feature: Feature) -> String {
        if feature == .debezium {
            return
                "needs Debezium 3.6.3 (java and PGREPL_DEBEZIUM_JARS) and hstore, which this PostgreSQL \(majorVersion) lane lacks (the PostgreSQL 15 lane runs it)"
        }
        return
            "needs \(feature.rawValue), which this PostgreSQL \(majorVersion) build lacks (the PostgreSQL 15 lane runs it)"
    }

    /// The folder of Debezium's jars when they and `java` are there.
    public static func debeziumJars(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let jars = environment["PGREPL_DEBEZIUM_JARS"], !jars.isEmpty,
            let files = try? FileManager.default.contentsOfDirectory(atPath: jars),
            files.contains(where: { $0.hasPrefix("debezium-connector-postgres-") })
        else { return nil }
        let path = (environment["PATH"] ?? "/usr/bin").split(separator: ":")
        return path.contains { FileManager.default.isExecutableFile(atPath: "\($0)/java") } ? jars : nil
    }

    /// The major version an external server reports (`server_version_num`), asked with `psql`
    /// (beside the server binaries, or the system's); 0 when it cannot be asked, which the
    /// integration tests' version check reports.
    static func askedVersion(dsn: String, environment: [String: String]) -> Int {
        let beside = (try? LocalCluster.discoverBinDirectory(environment: environment)).map { $0 + "/psql" }
        guard
            let psql = [beside, "/usr/bin/psql", "/usr/local/bin/psql"].compactMap({ $0 })
                .first(where: FileManager.default.isExecutableFile(atPath:)),
            let output = try? CommandRunner(serverAccount: nil).run(
                psql, ["-XAtq", "-d", dsn, "-c", "SHOW server_version_num"]),
            output.status == 0, let number = Int(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return 0 }
        return number / 10000
    }

    static func detect(environment: [String: String] = ProcessInfo.processInfo.environment) -> ServerFeatures {
        let required: Set<Feature> = {
            guard let list = environment["PGREPL_REQUIRE_FEATURES"], !list.isEmpty else { return [] }
            if list == "all" { return Set(Feature.allCases) }
            return Set(list.split(separator: ",").compactMap { Feature(rawValue: String($0)) })
        }()
        if let dsn = environment["PGREPL_TEST_DSN"], !dsn.isEmpty {
            return ServerFeatures(
                majorVersion: askedVersion(dsn: dsn, environment: environment), available: Set(Feature.allCases),
                required: required)
        }
        guard let bin = try? LocalCluster.discoverBinDirectory(environment: environment) else {
            return ServerFeatures(majorVersion: 0, available: [], required: required)
        }
        let runner = CommandRunner(serverAccount: nil)
        func pgConfig(_ argument: String) -> String {
            guard let output = try? runner.run(bin + "/pg_config", [argument]), output.status == 0 else { return "" }
            return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var available: Set<Feature> = []
        let configure = pgConfig("--configure")
        if configure.contains("--with-openssl") || configure.contains("--with-ssl=openssl") { available.insert(.ssl) }
        let library = pgConfig("--pkglibdir")
        for (feature, file) in [(Feature.testDecoding, "test_decoding.so"), (.wal2json, "wal2json.so")]
        where FileManager.default.fileExists(atPath: library + "/" + file) {
            available.insert(feature)
        }
        if FileManager.default.fileExists(atPath: pgConfig("--sharedir") + "/extension/citext.control") {
            available.insert(.citext)
        }
        if FileManager.default.fileExists(atPath: pgConfig("--sharedir") + "/extension/hstore.control"),
            debeziumJars(environment: environment) != nil
        {
            available.insert(.debezium)
        }
        let version = pgConfig("--version")  // "PostgreSQL 16.2"
        let major = Int(version.split(separator: " ").last?.prefix { $0.isNumber } ?? "") ?? 0
        return ServerFeatures(majorVersion: major, available: available, required: required)
    }
}
