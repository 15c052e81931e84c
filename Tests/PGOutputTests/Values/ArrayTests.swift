import PGOutput
import Testing

@Suite struct ArrayTests {
    @Test func oneDimensionalWithNulls() throws {
        let value = try decodeText("{1,NULL,-3}", .int4Array)
        #expect(value == .array(PGArray(elementType: .int4, elements: [.int32(1), .null, .int32(-3)])))
        #expect(try [Int?](pgValue: value) == [1, nil, -3])
        #expect(throws: PGValueConversionError.self) { try [Int](pgValue: value) }
    }

    @Test func emptyArrays() throws {
        #expect(try decodeText("{}", .textArray) == .array(PGArray(elementType: .text, dimensions: [], elements: [])))
        #expect(
            try decodeBinary(arrayBytes(element: .text, dimensions: [], elements: []), .textArray)
                == decodeText("{}", .textArray))
        #expect(try [String](pgValue: decodeText("{}", .textArray)) == [])
    }

    @Test func quotingAndEscaping() throws {
        let text =
            #"{"NULL",NULL,"","with,comma","with \"quote\"","back\\slash","{braces}"," leading space",日本, padded  }"#
        let value = try decodeText(text, .textArray)
        let expected: [PGValue] = [
            .text("NULL"), .null, .text(""), .text("with,comma"), .text("with \"quote\""), .text("back\\slash"),
            .text("{braces}"), .text(" leading space"), .text("日本"), .text("padded"),
        ]
        #expect(value == .array(PGArray(elementType: .text, elements: expected)))
        #expect(
            try decodeText(#"{a\,b,null,Null}"#, .textArray)
                == .array(PGArray(elementType: .text, elements: [.text("a,b"), .null, .null])))
    }

    @Test func multiDimensionalAndBounds() throws {
        let value = try decodeText("{{{1,2},{3,4}},{{5,6},{7,8}}}", .int4Array)
        guard case .array(let array) = value else { throw FixtureError("not an array") }
        #expect(array.dimensions == [.init(count: 2), .init(count: 2), .init(count: 2)])
        #expect(array.elements == (1...8).map { .int32(Int32($0)) })
        #expect(try [[[Int]]](pgValue: value) == [[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
        #expect(value.description == "{{{1,2},{3,4}},{{5,6},{7,8}}}")

        let bounded = try decodeText("[1:2][0:0]={{1},{2}}", .int4Array)
        guard case .array(let boundedArray) = bounded else { throw FixtureError("not an array") }
        #expect(boundedArray.dimensions == [.init(count: 2, lowerBound: 1), .init(count: 1, lowerBound: 0)])
        #expect(bounded.description == "[1:2][0:0]={{1},{2}}")
        #expect(try decodeText("[-3:-2]={1,2}", .int2Array).description == "[-3:-2]={1,2}")
    }

    @Test func binaryMatchesText() throws {
        let binary = arrayBytes(
            element: .bool, dimensions: [(2, 1), (2, 1)], elements: [[1], nil, nil, [0]])
        #expect(try decodeBinary(binary, .boolArray) == decodeText("{{t,NULL},{NULL,f}}", .boolArray))
        let bounded = arrayBytes(element: .int2, dimensions: [(2, 0)], elements: [be(Int16(5)), be(Int16(6))])
        #expect(try decodeBinary(bounded, .int2Array) == decodeText("[0:1]={5,6}", .int2Array))
    }

    @Test func malformedArraysThrow() {
        for text in [
            "", "{", "{1,2", "{1,,2}", "{{1},2}", "{1,{2}}", "{{1,2},{3}}", "{\"a}", "[1:3]={1,2}", "{1}x",
            "{{{{{{{1}}}}}}}", "{a}", "[1:2]{1,2}",
        ] {
            #expect(throws: PGValueDecodingError.self, "\(text)") { try decodeText(text, .int4Array) }
        }
        // Wrong element length, bad flags, too many dimensions, element count beyond the bytes.
        #expect(throws: PGValueDecodingError.self) {
            try decodeBinary(arrayBytes(element: .int4, dimensions: [(1, 1)], elements: [[0, 1]]), .int4Array)
        }
        #expect(throws: PGValueDecodingError.self) {
            try decodeBinary(be(Int32(1)) + be(Int32(7)) + be(UInt32(23)) + be(Int32(1)) + be(Int32(1)), .int4Array)
        }
        #expect(throws: PGValueDecodingError.self) {
            try decodeBinary(be(Int32(7)) + be(Int32(0)) + be(UInt32(23)), .int4Array)
        }
        #expect(throws: PGValueDecodingError.self) {
            try decodeBinary(be(Int32(1)) + be(Int32(0)) + be(UInt32(23)) + be(Int32.max) + be(Int32(1)), .int4Array)
        }
        // An array whose elements claim to be arrays is refused rather than recursed into.
        #expect(throws: PGValueDecodingError.self) {
            try decodeBinary(arrayBytes(element: .int4Array, dimensions: [(1, 1)], elements: [[]]), .int4Array)
        }
    }

    /// Found by the value fuzzer: a backslash or a quote followed by a combining mark is one
    /// Swift `Character`, and the element printer compared characters, so it left that backslash
    /// unescaped and the printed array read back as another value.
    @Test func aBackslashBeforeACombiningMarkIsEscaped() throws {
        for element in ["a\\\u{07F1}", "a\\\"\u{0301}", "\\\u{0301}\\"] {
            let value = PGValue.array(PGArray(elementType: .text, elements: [.text(element)]))
            let printed = value.description
            let again = try decodeText(printed, .textArray)
            #expect(again == value, "\(printed.debugDescription)")
        }
    }

    @Test func elementErrorsPointIntoTheArray() throws {
        let error = try #require(throws: PGValueDecodingError.self) { try decodeText("{1,2x}", .int4Array) }
        #expect(error.type == .int4)
        #expect(error.offset == 4)
    }
}
