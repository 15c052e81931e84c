import PGOutput

/// JSON into a byte buffer, with PostgreSQL's `escape_json` rules (what wal2json uses):
/// `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other bytes below 0x20 as `\u00xx`, the rest as is.
enum JSONWriter {
    static func appendString(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        // A large value grows the buffer once, not by doubling (each step holds old and new).
        if bytes.count > 1 << 16 { out.reserve(forAppending: bytes.count + bytes.count / 16 + 64) }
        out.append(0x22)
        var start = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
            if start < index { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index])) }
            start = index + 1
            switch byte {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, 0x62])
            case 0x0C: out.append(contentsOf: [0x5C, 0x66])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            default:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            }
        }
        if start < bytes.count { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count])) }
        out.append(0x22)
    }

    static func appendString(_ bytes: [UInt8], to out: inout [UInt8]) {
        bytes.withUnsafeBytes { appendString($0, to: &out) }
    }

    static func appendString(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendString(UnsafeRawBufferPointer($0), to: &out) }
    }

    static func append(_ text: StaticString, to out: inout [UInt8]) {
        text.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    static func appendNumber<T: BinaryInteger>(_ value: T, to out: inout [UInt8]) {
        if let value = Int64(exactly: value) {
            appendInteger(value, to: &out)
        } else {
            out.append(contentsOf: String(value).utf8)
        }
    }

    /// The decimal digits, written straight into the buffer (no String in between).
    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        var magnitude = value.magnitude
        if value < 0 { out.append(0x2D) }
        if magnitude < 10 {
            out.append(0x30 &+ UInt8(truncatingIfNeeded: magnitude))
            return
        }
        // Two digits per division, from the end.
        let pairs: StaticString =
            "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
        let table = pairs.utf8Start
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = 20
            while magnitude >= 100 {
                let pair = Int(magnitude % 100) * 2
                magnitude /= 100
                start -= 2
                digits[start] = table[pair]
                digits[start + 1] = table[pair + 1]
            }
            if magnitude >= 10 {
                let pair = Int(magnitude) * 2
                start -= 2
                digits[start] = table[pair]
                digits[start + 1] = table[pair + 1]
            } else {
                start -= 1
                digits[start] = 0x30 &+ UInt8(truncatingIfNeeded: magnitude)
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    /// `"…"`: the bytes in standard base64 with padding, written straight into the buffer.
    static func appendBase64String(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        let table = alphabet.utf8Start
        out.append(0x22)
        var iterator = bytes.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next()
            let third = iterator.next()
            let value = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            out.append(table[Int(value >> 18 & 63)])
            out.append(table[Int(value >> 12 & 63)])
            out.append(second == nil ? 0x3D : table[Int(value >> 6 & 63)])
            out.append(third == nil ? 0x3D : table[Int(value & 63)])
        }
        out.append(0x22)
    }
}
