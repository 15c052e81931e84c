import PGOutput

/// The rows of `COPY … TO STDOUT` as the tuples pgoutput sends (``PGOutput/TupleData``'s wire
/// form), built straight from the server's bytes: the initial snapshot's and the backfill's rows
/// take no detour through strings or typed values.
///
/// The server sends one CopyData message per row (the binary format's header comes with the
/// first row, its trailer on its own).
package enum CopyRows {
    /// Appends the tuple of one text-format row (tab-separated, `\N` for NULL, backslash escapes
    /// undone) to `wire`: `columns` text columns.
    package static func appendTextRow(
        _ row: UnsafeRawBufferPointer, columns: Int, to wire: inout [UInt8]
    ) throws(PGError) {
        var end = row.count
        if end > 0, row[end - 1] == 0x0A { end -= 1 }
        appendCount(columns, to: &wire)
        // A row of no columns is an empty line.
        if columns == 0 {
            guard end == 0 else { throw failure("a row has fields, and no columns were asked for") }
            return
        }
        var field = 0
        var start = 0
        while true {
            guard field < columns else {
                throw failure("a row has more fields than the \(columns) columns asked for")
            }
            var stop = start
            while stop < end, row[stop] != 0x09 { stop += 1 }
            appendTextField(UnsafeRawBufferPointer(rebasing: row[start..<stop]), to: &wire)
            field += 1
            if stop >= end { break }
            start = stop + 1
        }
        guard field == columns else {
            throw failure("a row has \(field) fields, not \(columns)")
        }
    }

    /// One field: `\N` is NULL; otherwise its text with the escapes undone.
    private static func appendTextField(_ field: UnsafeRawBufferPointer, to wire: inout [UInt8]) {
        if field.count == 2, field[0] == 0x5C, field[1] == 0x4E {
            wire.append(TupleKind.null)
            return
        }
        wire.append(TupleKind.text)
        let lengthAt = wire.count
        wire.append(contentsOf: [0, 0, 0, 0])
        let valueStart = wire.count
        guard field.contains(0x5C) else {
            wire.append(contentsOf: field)
            patchLength(at: lengthAt, count: wire.count - valueStart, in: &wire)
            return
        }
        var index = 0
        while index < field.count {
            let byte = field[index]
            index += 1
            guard byte == 0x5C, index < field.count else {
                wire.append(byte)
                continue
            }
            let escaped = field[index]
            index += 1
            switch escaped {
            case 0x62: wire.append(0x08)  // \b
            case 0x66: wire.append(0x0C)  // \f
            case 0x6E: wire.append(0x0A)  // \n
            case 0x72: wire.append(0x0D)  // \r
            case 0x74: wire.append(0x09)  // \t
            case 0x76: wire.append(0x0B)  // \v
            case 0x30...0x37:  // \ooo: up to three octal digits
                var value = Int(escaped - 0x30)
                var digits = 1
                while digits < 3, index < field.count, (0x30...0x37).contains(field[index]) {
                    value = value * 8 + Int(field[index] - 0x30)
                    index += 1
                    digits += 1
                }
                wire.append(UInt8(truncatingIfNeeded: value))
            case 0x78 where index < field.count && hexDigitValue(field[index]) != nil:  // \xhh
                var value = Int(hexDigitValue(field[index]) ?? 0)
                index += 1
                if index < field.count, let low = hexDigitValue(field[index]) {
                    value = value * 16 + Int(low)
                    index += 1
                }
                wire.append(UInt8(truncatingIfNeeded: value))
            default: wire.append(escaped)
            }
        }
        patchLength(at: lengthAt, count: wire.count - valueStart, in: &wire)
    }

    /// The binary format's 11-byte signature.
    static let signature: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]

    /// A binary-format COPY being read: the header comes with the first row.
    package struct Binary {
        /// Per column: true when it is the type's send output (pgoutput's `b`), false when it
        /// is text (a column read as `::text`, pgoutput's `t`).
        let binaryColumns: [Bool]
        private var sawHeader = false
        private var sawTrailer = false

        package init(binaryColumns: [Bool]) { self.binaryColumns = binaryColumns }

        /// Appends the tuple of one message to `wire`; false for the trailer (nothing appended).
        package mutating func appendRow(
            _ message: UnsafeRawBufferPointer, to wire: inout [UInt8]
        ) throws(PGError) -> Bool {
            guard !sawTrailer else { throw failure("a message after the binary trailer") }
            var offset = 0
            if !sawHeader {
                guard message.count >= 19, signature.indices.allSatisfy({ message[$0] == signature[$0] }) else {
                    throw failure("the binary header is missing")
                }
                let extensionLength = Int(int32(message, at: 15))
                guard extensionLength >= 0, message.count >= 19 + extensionLength else {
                    throw failure("the binary header is damaged")
                }
                offset = 19 + extensionLength
                sawHeader = true
            }
            guard message.count - offset >= 2 else { throw failure("a row ends early") }
            let count = Int(Int16(bitPattern: UInt16(message[offset]) << 8 | UInt16(message[offset + 1])))
            offset += 2
            if count == -1 {
                sawTrailer = true
                return false
            }
            guard count == binaryColumns.count else {
                throw failure("a row has \(count) fields, not \(binaryColumns.count)")
            }
            appendCount(count, to: &wire)
            for column in 0..<count {
                guard message.count - offset >= 4 else { throw failure("a row ends early") }
                let length = Int(int32(message, at: offset))
                offset += 4
                if length == -1 {
                    wire.append(TupleKind.null)
                    continue
                }
                guard length >= 0, message.count - offset >= length else { throw failure("a field ends early") }
                wire.append(binaryColumns[column] ? TupleKind.binary : TupleKind.text)
                appendInt32(length, to: &wire)
                wire.append(contentsOf: UnsafeRawBufferPointer(rebasing: message[offset..<(offset + length)]))
                offset += length
            }
            guard offset == message.count else { throw failure("a row has bytes after its last field") }
            return true
        }
    }

    private enum TupleKind {
        static let null: UInt8 = 0x6E
        static let text: UInt8 = 0x74
        static let binary: UInt8 = 0x62
    }

    private static func appendCount(_ count: Int, to wire: inout [UInt8]) {
        wire.append(UInt8(truncatingIfNeeded: count >> 8))
        wire.append(UInt8(truncatingIfNeeded: count))
    }

    private static func appendInt32(_ value: Int, to wire: inout [UInt8]) {
        wire.append(UInt8(truncatingIfNeeded: value >> 24))
        wire.append(UInt8(truncatingIfNeeded: value >> 16))
        wire.append(UInt8(truncatingIfNeeded: value >> 8))
        wire.append(UInt8(truncatingIfNeeded: value))
    }

    private static func patchLength(at offset: Int, count: Int, in wire: inout [UInt8]) {
        wire[offset] = UInt8(truncatingIfNeeded: count >> 24)
        wire[offset + 1] = UInt8(truncatingIfNeeded: count >> 16)
        wire[offset + 2] = UInt8(truncatingIfNeeded: count >> 8)
        wire[offset + 3] = UInt8(truncatingIfNeeded: count)
    }

    private static func int32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int32 {
        Int32(
            bitPattern: UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
                | UInt32(bytes[offset + 3]))
    }

    static func failure(_ why: String) -> PGError {
        PGError(.interface, "unexpected COPY data from the server: \(why)")
    }
}

/// The rows of one table's COPY as the stream's rows: each message's tuple built in one buffer
/// and made a ``PGOutput/PGRow`` as the stream makes its rows (its tuple kept, its values decoded,
/// as configured).
package struct CopyRowReader {
    package let columns: [RelationColumn]
    /// The columns after the table's (a backfill's key text), read off each row.
    package let extra: Int
    private var binary: CopyRows.Binary?
    private let keepTuples: Bool
    private let decodeValues: Bool
    private var wire: [UInt8] = []

    /// - Parameter binaryFormats: per column (the table's, then the extra ones), whether it is a
    ///   type's send output; nil for a text-format COPY.
    package init(
        columns: [RelationColumn], extra: Int = 0, binaryFormats: [Bool]?, keepTuples: Bool, decodeValues: Bool
    ) {
        self.columns = columns
        self.extra = extra
        binary = binaryFormats.map { CopyRows.Binary(binaryColumns: $0) }
        self.keepTuples = keepTuples
        self.decodeValues = decodeValues
    }

    /// The row of one message, and the text of its extra columns (nil for NULL); nil for the
    /// binary format's trailer.
    package mutating func row(_ message: UnsafeRawBufferPointer) throws -> (row: PGRow, extra: [String?])? {
        wire.removeAll(keepingCapacity: true)
        if binary != nil {
            guard try binary?.appendRow(message, to: &wire) == true else { return nil }
        } else {
            try CopyRows.appendTextRow(message, columns: columns.count + extra, to: &wire)
        }
        // A large value's room is not kept for the rows after it.
        defer { if wire.capacity > 1 << 20 { wire = [] } }
        let extraText = splitExtra()
        guard let tuple = wire.withUnsafeBytes({ TupleData(checkingWire: $0) }) else {
            throw CopyRows.failure("a row could not be read")
        }
        return (
            try PGRow(columns: columns, tuple: tuple, keepingTuple: keepTuples, decodingValues: decodeValues), extraText
        )
    }

    /// Takes the extra fields off the end of `wire` (a tuple the parsers wrote, of the row's
    /// columns then the extra fields) and returns their text; `wire` is then the row's tuple.
    private mutating func splitExtra() -> [String?] {
        guard extra > 0 else { return [] }
        var offset = 2
        var rowEnd = offset
        var texts: [String?] = []
        texts.reserveCapacity(extra)
        for field in 0..<(columns.count + extra) {
            guard offset < wire.count else { break }
            let kind = wire[offset]
            offset += 1
            var value: ArraySlice<UInt8>?
            if kind == 0x74 || kind == 0x62 {  // t, b: a length and the bytes
                guard wire.count - offset >= 4 else { break }
                let length = wire[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
                offset += 4
                guard wire.count - offset >= length else { break }
                value = wire[offset..<(offset + length)]
                offset += length
            }
            if field < columns.count {
                rowEnd = offset
            } else {
                texts.append(value.map { String(decoding: $0, as: UTF8.self) })
            }
        }
        // The row's tuple: its fields, and their count.
        wire.removeSubrange(rowEnd...)
        wire[0] = UInt8(truncatingIfNeeded: columns.count >> 8)
        wire[1] = UInt8(truncatingIfNeeded: columns.count)
        return texts
    }
}
