import PGOutput
import Testing

@Suite struct LSNTests {
    @Test(arguments: [
        ("0/0", UInt64(0), "0/0"),
        ("0/00000000", UInt64(0), "0/0"),
        ("0/1d767e8", 0x1D7_67E8, "0/1D767E8"),
        ("0/01D767E8", 0x1D7_67E8, "0/1D767E8"),
        ("2/3F42B70", 0x2_03F4_2B70, "2/3F42B70"),
        ("FFFFFFFF/FFFFFFFF", UInt64.max, "FFFFFFFF/FFFFFFFF"),
        ("16/B374D848", 0x16_B374_D848, "16/B374D848"),
    ])
    func parsesAndPrints(text: String, value: UInt64, printed: String) throws {
        let lsn = try LSN(text)
        #expect(lsn.rawValue == value)
        #expect(lsn.description == printed)
        #expect(try LSN(lsn.description) == lsn)
    }

    @Test(arguments: [
        "", "12", "/1", "1/", "zz/1", "0x1/0x2", " 1/2", "1/2 ", "1/123456789", "123456789/1", "1/2/3", "-1/2", "１/2",
    ])
    func rejectsMalformedText(text: String) {
        #expect(throws: LSN.ParseError.self) { try LSN(text) }
    }

    @Test func errorNamesTheInput() {
        do {
            _ = try LSN("zz/1")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("zz/1"))
            #expect(error.input == "zz/1")
        }
    }

    @Test func ordersAndDoesArithmetic() {
        let a: LSN = 100
        let b = LSN(250)
        #expect(a < b)
        #expect(b.distance(from: a) == 150)
        #expect(a.distance(from: b) == 0)
        #expect(a.advanced(by: 150) == b)
        #expect(LSN(UInt64.max).advanced(by: 1) == LSN(UInt64.max))
        #expect(LSN(0x2_0000_0001).high == 2)
        #expect(LSN(0x2_0000_0001).low == 1)
    }
}
