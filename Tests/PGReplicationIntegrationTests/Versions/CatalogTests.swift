import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import Testing

/// The catalog room's readings, each against the live server of the lane (15, 16 and 18): the
/// one place that reads `pg_replication_slots`, `pg_publication*`, `pg_attribute`, `pg_type`,
/// `pg_index`, `pg_roles` and the server's settings.
@Suite struct CatalogTests {
    private func connect() throws -> PGConnection { try PGConnection(try TestServer.dsn()) }

    @Test func serverSettingsAreTheServers() throws {
        let sql = try connect()
        defer { sql.close() }
        let settings = try ServerSettings.read(on: sql)
        #expect(settings.walLevel == (try TestServer.sql("SHOW wal_level").scalar))
        #expect("\(settings.maxReplicationSlots)" == (try TestServer.sql("SHOW max_replication_slots").scalar))
        #expect("\(settings.maxWALSenders)" == (try TestServer.sql("SHOW max_wal_senders").scalar))
        #expect(settings.role == (try TestServer.sql("SELECT current_user").scalar))
        #expect(settings.roleMayReplicate)
        #expect(settings.timeZone == (try sql.execute("SHOW TimeZone").scalar))
        #expect(settings.database == (try sql.execute("SELECT current_database()").scalar))
        try sql.execute("SET TimeZone = 'Asia/Kolkata'")
        let kolkata = try ServerSettings.read(on: sql)
        #expect(kolkata.timeZone == "Asia/Kolkata" && kolkata.timeZoneOffset == 19_800)
    }

    @Test func columnFactsFollowTheStreamsDescription() throws {
        let table = TestServer.uniqueName("facts")
        let domain = TestServer.uniqueName("positive")
        try TestServer.sql(
            """
            CREATE DOMAIN \(domain) AS numeric(7,2) CHECK (VALUE > 0);
            CREATE TABLE \(table) (
                gone int, id int NOT NULL, price \(domain), note varchar(20) DEFAULT 'none',
                twice int GENERATED ALWAYS AS (id * 2) STORED, PRIMARY KEY (id));
            ALTER TABLE \(table) DROP COLUMN gone
            """)
        defer { TestServer.dropQuietly("DROP TABLE IF EXISTS \(table); DROP DOMAIN IF EXISTS \(domain)") }
        let oid = try #require(try TestServer.sql("SELECT '\(table)'::regclass::oid").scalar.flatMap { UInt32($0) })
        let types = try TestServer.sql(
            "SELECT atttypid, atttypmod FROM pg_attribute WHERE attrelid = \(oid) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ).rows
        let names = ["id", "price", "note", "twice"]
        // The stream's description: its own order, and a column the catalog no longer has.
        var columns = zip(names, types).map { name, row in
            RelationColumn(
                flags: name == "id" ? 1 : 0, name: name, typeOID: UInt32(row[0] ?? "") ?? 0,
                typeModifier: Int32(row[1] ?? "") ?? -1)
        }
        columns.append(RelationColumn(flags: 0, name: "vanished", typeOID: 25, typeModifier: -1))
        let described = PGTable(oid: oid, schema: "public", name: table, columns: columns)
        let sql = try connect()
        defer { sql.close() }

        let plain = try ColumnFacts.read(for: described, attributes: false, on: sql)
        #expect(plain.typeNames == ["integer", domain, "character varying(20)", "integer", "text"])
        #expect(plain.domainBaseTypeNames == [nil, "numeric(7,2)", nil, nil, nil])
        #expect(plain.positions.isEmpty && plain.primaryKey.isEmpty && !plain.hasPrimaryKey)

        let full = try ColumnFacts.read(for: described, attributes: true, on: sql)
        #expect(full.positions == [2, 3, 4, 5, 0])
        #expect(full.notNull == [true, false, false, false, false])
        // A generated column's expression is not a default.
        #expect(full.defaults == [nil, nil, "'none'::character varying", nil, nil])
        #expect(full.primaryKey == [true, false, false, false, false])
        #expect(full.hasPrimaryKey)
    }

    @Test func slotsAndPublicationsAreReadOnce() throws {
        let table = try TestServer.makeTable("catalog")
        let publication = TestServer.uniqueName("catalog_pub")
        let slot = TestServer.uniqueName("catalog_slot")
        try TestServer.sql("CREATE PUBLICATION \(publication) FOR TABLE \(table)")
        try TestServer.sql("SELECT pg_create_logical_replication_slot('\(slot)', 'pgoutput')")
        defer {
            TestServer.dropSlot(slot)
            TestServer.dropQuietly("DROP PUBLICATION IF EXISTS \(publication)")
        }
        let sql = try connect()
        defer { sql.close() }
        let status = try #require(try SlotStatus.read(slot, on: sql))
        #expect(status.isPGOutput && status.type == "logical" && !status.active)
        #expect(status.invalidationReason == nil)
        #expect(status.confirmedFlushLSN != nil && status.lagBytes != nil)
        #expect(status.database == (try sql.execute("SELECT current_database()").scalar))
        #expect(status.conflicting == (ServerFeatures.current.majorVersion >= 16 ? false : nil))
        #expect(try SlotStatus.read(TestServer.uniqueName("none"), on: sql) == nil)
        #expect(try SlotStatus.read(on: sql).contains { $0.name == slot })

        let missing = TestServer.uniqueName("nopub")
        #expect(try Publication.firstMissing([publication, missing], on: sql) == missing)
        #expect(try Publication.read([publication], on: sql)[publication]?.publishesUpdatesOrDeletes == true)
        let published = try PublishedTable.list([publication], sql: sql)
        #expect(published.map(\.name) == [table])
        #expect(published.first?.key == ["id"])
    }
}
