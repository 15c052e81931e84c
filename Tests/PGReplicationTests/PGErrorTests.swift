import Testing

@testable import PGReplication

@Suite struct PGErrorTests {
    @Test(arguments: [
        ("42710", PGError.Kind.programming), ("42704", .programming), ("42602", .programming), ("42601", .programming),
        ("22023", .data), ("0A000", .notSupported), ("57P01", .operational), ("58P01", .operational),
        ("08006", .operational), ("23505", .integrity), ("25001", .internal), ("XX000", .internal),
        ("40001", .operational),
        ("3D000", .programming), ("53100", .operational), ("P0001", .internal), ("01000", .database),
        ("28P01", .operational),
    ])
    func mapsSQLStateClassesAsPsycopg2Does(code: String, kind: PGError.Kind) {
        #expect(PGError.kind(for: SQLState(rawValue: code)) == kind)
    }

    @Test func descriptionNamesTheCodeAndHidesTheCommandDetail() {
        let error = PGError(
            .programming, "replication slot \"x\" does not exist", sqlState: .undefinedObject,
            command: "START_REPLICATION SLOT \"x\" LOGICAL 0/00000000")
        #expect(error.description == "42704: replication slot \"x\" does not exist")
        #expect(error.debugDescription.contains("START_REPLICATION"))
    }

    @Test func parsesDurationSettings() {
        #expect(parseDuration("60s") == 60)
        #expect(parseDuration("1min") == 60)
        #expect(parseDuration("500ms") == 0.5)
        #expect(parseDuration("0") == 0)
        #expect(parseDuration("2h") == 7200)
        #expect(parseDuration("bogus") == nil)
    }
}
