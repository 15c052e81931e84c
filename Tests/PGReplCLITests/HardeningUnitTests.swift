import Foundation
import PGLocalCluster
import PGOutput
import PGReplication
import Testing

@testable import PGReplCLI

/// The findings of the reliability read that need no server: each of these trapped, leaked,
/// looped or let a value through on the first release.
@Suite struct HardeningUnitTests {
    // MARK: - Traps on crafted or extreme input

    @Test func craftedSegmentNamesBeyondTheLSNSpaceAreNotSegments() throws {
        let segments = try #require(WALSegments(setting: "16MB"))
        // log FFFFFFFF, segment FF: the segment's start is 0xFFFFFFFF_FF000000, and the next
        // segment's start overflows 64 bits.
        #expect(segments.parse(fileName: "00000001FFFFFFFF000000FF") == nil)
        #expect(segments.parse(fileName: "00000001FFFFFFFF000000FE")! == (1, 0xFF_FFFF_FFFE, false))
        let small = try #require(WALSegments(setting: "1MB"))
        #expect(small.parse(fileName: "00000001FFFFFFFF00000FFF") == nil)
    }

    @Test func aHugeNumericScaleIsRefusedNotATrap() {
        #expect(PGNumeric(isNegative: false, significandDigits: [1], scale: Int.max) == nil)
        #expect(PGNumeric(isNegative: false, significandDigits: [1], scale: PGNumeric.maximumScale + 1) == nil)
        let largest = PGNumeric(isNegative: false, significandDigits: [1], scale: PGNumeric.maximumScale)
        #expect(largest?.description.count == PGNumeric.maximumScale + 2)
    }

    /// Integers are written straight into the buffer, two digits at a time: every length and
    /// both ends of Int64, as `String` writes them.
    @Test func integersAreWrittenAsStringWritesThem() {
        var samples: [Int64] = [0, 9, 10, 99, 100, 101, 999, 1000, -1, -10, -99, -100, .max, .min, .max - 1, .min + 1]
        var power: Int64 = 1
        for _ in 0..<18 {
            power *= 10
            samples += [power - 1, power, power + 1, -power]
        }
        for value in samples {
            var out: [UInt8] = []
            JSONWriter.appendInteger(value, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == String(value))
        }
        var base64: [UInt8] = []
        JSONWriter.appendBase64String([0x00, 0xFF, 0x10, 0x01], to: &base64)
        #expect(String(decoding: base64, as: UTF8.self) == "\"AP8QAQ==\"")
    }

    /// Java's `BigInteger.toByteArray` of decimal digits, nine digits at a time: small values,
    /// the ends of a byte, a limb's edge, Int64's least value, and 60 digits.
    @Test func twosComplementIsJavasBigIntegerBytes() {
        func bytes(_ text: String, _ negative: Bool = false) -> [UInt8] {
            DebeziumValues.twosComplement(digits: Array(text.utf8).map { $0 - 0x30 }, negative: negative)
        }
        #expect(bytes("0") == [0] && bytes("000") == [0])
        #expect(bytes("1", true) == [0xFF] && bytes("128") == [0, 0x80] && bytes("128", true) == [0x80])
        #expect(bytes("129", true) == [0xFF, 0x7F] && bytes("4294967296") == [1, 0, 0, 0, 0])
        #expect(bytes("9223372036854775808", true) == [0x80, 0, 0, 0, 0, 0, 0, 0])
        let sixty = "123456789012345678901234567890123456789012345678901234567890"
        #expect(
            bytes(sixty) == [
                19, 170, 245, 4, 228, 188, 30, 98, 23, 63, 135, 164, 55, 140, 55, 180, 156, 140, 207, 241, 150, 206, 63,
                10, 210,
            ])
        #expect(
            bytes(sixty, true) == [
                236, 85, 10, 251, 27, 67, 225, 157, 232, 192, 120, 91, 200, 115, 200, 75, 99, 115, 48, 14, 105, 49, 192,
                245, 46,
            ])
        // The most digits a numeric has (the quadratic digit-by-digit form took seconds).
        #expect(bytes(String(repeating: "9", count: 131_072)).count == 54_427)
        #expect(DebeziumValues.numericScale(-1) == nil && DebeziumValues.numericScale((10 << 16 | 2) + 4) == 2)
        #expect(DebeziumValues.numericScale((5 << 16 | (-2 & 0x7FF)) + 4) == -2)
    }

    /// `'178000000 years'` trapped the Debezium encoder ("Double value cannot be converted to
    /// Int64", exit 132); Debezium saturates as Java's `(long)` cast does.
    @Test func anIntervalPastTheMicrosecondRangeSaturatesAsDebeziumDoes() {
        let years178M = PGInterval(months: 178_000_000 * 12)
        #expect(DebeziumValues.microDuration(years178M) == .max)
        #expect(DebeziumValues.microDuration(PGInterval(months: -178_000_000 * 12)) == .min)
        #expect(
            DebeziumValues.microDuration(PGInterval(months: .max, days: .max, microseconds: .max)) == .max)
        #expect(DebeziumValues.microDuration(PGInterval(months: 1, days: 2, microseconds: 3)) == 2_802_600_000_003)
        #expect(DebeziumValues.javaLong(.nan) == 0 && DebeziumValues.javaLong(-2.9) == -2)
        #expect(DebeziumValues.floorDivide(.min, 1000) == -9_223_372_036_854_776)
        #expect(DebeziumValues.floorDivide(-1, 1000) == -1 && DebeziumValues.floorDivide(1999, 1000) == 1)
    }

    @Test func aNaNDateHasNoTimestamp() {
        #expect(PostgresTimestamp(Date(timeIntervalSince1970: .nan)) == nil)
        #expect(PostgresTimestamp(Date(timeIntervalSince1970: .infinity))?.rawValue == .max)
        #expect(PostgresTimestamp(Date(timeIntervalSince1970: -.infinity))?.rawValue == .min)
        #expect(PostgresTimestamp(Date(timeIntervalSince1970: 946_684_800))?.rawValue == 0)
    }

    @Test func aFailedSegmentFileOpenClosesItsDescriptorOnce() throws {
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        let segments = try #require(WALSegments(setting: "16MB"))
        let directory = WALDirectory(path: folder, segments: segments, sync: false)
        // A .partial of the wrong size makes the initializer throw after opening the file.
        let name = segments.fileName(timeline: 1, segment: 1) + ".partial"
        #expect(FileManager.default.createFile(atPath: folder + "/" + name, contents: Data([1, 2, 3])))
        for _ in 0..<20 {
            // A descriptor opened by someone else right after must survive the failed open.
            #expect(throws: CLIError.self) { _ = try SegmentFile(directory: directory, timeline: 1, segment: 1) }
            let sentinel = open("/dev/null", O_RDONLY)
            #expect(throws: CLIError.self) { _ = try SegmentFile(directory: directory, timeline: 1, segment: 1) }
            #expect(fcntl(sentinel, F_GETFD) >= 0, "the failed open closed a descriptor it did not own")
            close(sentinel)
        }
        #expect(try descriptors(into: folder).isEmpty)
    }

    @Test func lineOutputsReleaseTheirDescriptors() throws {
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        for index in 0..<20 {
            // Opened and dropped without finish(), as on an error path.
            _ = try LineOutput(path: "\(folder)/out-\(index).jsonl")
        }
        // Not a regular file: the initializer throws after opening.
        for _ in 0..<20 { #expect(throws: CLIError.self) { _ = try LineOutput(path: folder) } }
        #expect(try descriptors(into: folder).isEmpty)
    }

    @Test func aNewOutputFilesFolderIsSynced() throws {
        let folder = try temporaryFolder()
        defer { removeTemporary(folder) }
        try LineOutput.syncFolder(of: "\(folder)/new.jsonl", context: "test")
        #expect(throws: CLIError.self) { try LineOutput.syncFolder(of: "\(folder)/missing/new.jsonl", context: "test") }
        let output = try LineOutput(path: "\(folder)/new.jsonl")
        try output.write(["{}"])
        try output.sync()
        output.finish()
        #expect(readTextFile("\(folder)/new.jsonl") == "{}\n")
    }

    // MARK: - The text format cannot forge lines or terminal escapes

    @Test(arguments: [
        ("a\nb", "'a\\nb'"), ("a\r\nb", "'a\\r\\nb'"), ("\u{1B}[2Jx", "'\\u{1B}[2Jx'"), ("bell\u{07}", "'bell\\u{7}'"),
        ("del\u{7F}", "'del\\u{7F}'"), ("c1\u{9B}31m", "'c1\\u{9B}31m'"), ("ls\u{2028}x", "'ls\\u{2028}x'"),
        ("it's", "'it''s'"), ("back\\slash x", "'back\\\\slash x'"), ("plain", "plain"), ("", "''"),
        ("NULL", "'NULL'"),
    ])
    func textValuesEscapeEveryControlCharacter(value: String, shown: String) {
        #expect(TextChangeLines.quoted(value) == shown)
        #expect(
            !TextChangeLines.quoted(value).unicodeScalars.contains {
                $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029
            })
    }

    // MARK: - Security of connection strings

    @Test func sslmodeIsAddedLastSoItWins() throws {
        var options = try ConnectionOptions.parse(["--dsn", "host=db sslmode=disable", "--sslmode", "verify-full"])
        #expect(options.conninfo == "host=db sslmode=disable sslmode=verify-full")
        options = try ConnectionOptions.parse(["--dsn", "postgresql://u@db/app", "--sslmode", "require"])
        #expect(options.conninfo == "postgresql://u@db/app?sslmode=require")
        options = try ConnectionOptions.parse([
            "--dsn", "postgresql://u@db/app?connect_timeout=3", "--sslmode", "require",
        ])
        #expect(options.conninfo == "postgresql://u@db/app?connect_timeout=3&sslmode=require")
        options = try ConnectionOptions.parse(["--sslmode", "prefer"])
        #expect(options.conninfo == "sslmode=prefer")
        #expect(throws: (any Error).self) { _ = try ConnectionOptions.parse(["--sslmode", "sometimes"]) }
    }
}

/// A delimiter followed by a combining mark is one Swift `Character`: tokenizers that compared
/// characters missed it (the value fuzzer found the same in the array printer).
@Suite struct CombiningMarkTests {
    @Test func aTablePatternSplitsBeforeACombiningMark() throws {
        let options = try Wal2JSONOptions.parse(["add-tables=s.\u{0301}t"])
        #expect(options.addTables == [.init(schema: "s", table: "\u{0301}t")])
    }

    @Test func aRowFilterNamesAColumnAfterACombiningMark() {
        #expect(Preflight.mentions("(\"a\u{0301}\" > 1) AND (b < 2)", "b"))
        #expect(Preflight.mentions("('x\u{0301}' = v)", "v"))
        #expect(!Preflight.mentions("('\u{0301}b' = v)", "b"))
    }
}
