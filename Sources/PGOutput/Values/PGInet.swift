/// A PostgreSQL `inet` or `cidr` value: an IPv4 or IPv6 address with a prefix length.
///
/// Binary layout: UInt8 family (2 = IPv4, 3 = IPv6), UInt8 prefix bits, UInt8 is-cidr flag,
/// UInt8 address length (4 or 16), then the address bytes. Text: `192.168.1.5/24`, `::1`,
/// `10.0.0.0/8`; `inet` leaves out a full-length prefix, `cidr` always shows it.
public struct PGInet: Hashable, Sendable, CustomStringConvertible {
    /// The address family.
    public enum Family: Hashable, Sendable {
        case ipv4
        case ipv6

        /// Address length in bytes.
        public var addressLength: Int { self == .ipv4 ? 4 : 16 }
    }

    /// IPv4 or IPv6.
    public var family: Family
    /// The address bytes, 4 for IPv4 and 16 for IPv6, network order.
    public var address: [UInt8]
    /// The prefix length (netmask bits), up to 32 or 128.
    public var prefixLength: UInt8
    /// Whether the value came from a `cidr` column (a network) rather than `inet` (a host).
    public var isCIDR: Bool

    /// A value from its parts; `nil` when the address length or prefix does not fit the family.
    public init?(family: Family, address: [UInt8], prefixLength: UInt8, isCIDR: Bool = false) {
        guard address.count == family.addressLength, Int(prefixLength) <= family.addressLength * 8 else {
            return nil
        }
        self.family = family
        self.address = address
        self.prefixLength = prefixLength
        self.isCIDR = isCIDR
    }

    /// The address as PostgreSQL prints it, with `/prefix` unless it is an `inet` host address.
    public var description: String {
        let host = family == .ipv4 ? address.map { String($0) }.joined(separator: ".") : PGInet.renderIPv6(address)
        if !isCIDR, Int(prefixLength) == family.addressLength * 8 { return host }
        return host + "/" + String(prefixLength)
    }

    /// IPv6 text: the longest run (two or more) of zero groups becomes `::`, and `::ffff:a.b.c.d`
    /// and `::a.b.c.d` keep the embedded IPv4 address in dotted form.
    static func renderIPv6(_ bytes: [UInt8]) -> String {
        let groups = (0..<8).map { UInt16(bytes[$0 * 2]) << 8 | UInt16(bytes[$0 * 2 + 1]) }
        var bestStart = -1
        var bestLength = 0
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8, groups[end] == 0 { end += 1 }
            if end - index > bestLength { (bestStart, bestLength) = (index, end - index) }
            index = end
        }
        if bestLength < 2 { bestStart = -1 }
        var text = ""
        index = 0
        while index < 8 {
            if index == bestStart {
                text += "::"
                index += bestLength
                continue
            }
            if index == 6, bestStart == 0, bestLength == 6 || (bestLength == 5 && groups[5] == 0xFFFF) {
                if !text.hasSuffix(":") { text += ":" }
                text += bytes[12...].map { String($0) }.joined(separator: ".")
                break
            }
            if !text.isEmpty, !text.hasSuffix(":") { text += ":" }
            text += String(groups[index], radix: 16)
            index += 1
        }
        return text
    }

    // MARK: - Wire formats

    /// Text: an IPv4 dotted quad or an IPv6 address, optionally followed by `/prefix`.
    static func decodeText(_ reader: inout ValueReader, isCIDR: Bool) throws(PGValueDecodingError) -> PGInet {
        var slash = reader.offset
        var sawColon = false
        while slash < reader.bytes.count, reader.bytes[slash] != UInt8(ascii: "/") {
            if reader.bytes[slash] == UInt8(ascii: ":") { sawColon = true }
            slash += 1
        }
        let family: Family = sawColon ? .ipv6 : .ipv4
        var addressReader = ValueReader(
            UnsafeRawBufferPointer(rebasing: reader.bytes[..<slash]), type: reader.type, format: .text,
            base: reader.base)
        addressReader.offset = reader.offset
        let address = family == .ipv4 ? try readIPv4(&addressReader) : try readIPv6(&addressReader)
        try addressReader.expectEnd()
        reader.offset = slash
        var prefix = family.addressLength * 8
        if reader.consume(UInt8(ascii: "/")) {
            let start = reader.offset
            let (bits, _) = try reader.readDigits(max: 3)
            guard bits <= prefix else { throw reader.error("a prefix length up to \(prefix)", at: start) }
            prefix = Int(bits)
        }
        try reader.expectEnd()
        return PGInet(unchecked: family, address: address, prefixLength: UInt8(prefix), isCIDR: isCIDR)
    }

    private init(unchecked family: Family, address: [UInt8], prefixLength: UInt8, isCIDR: Bool) {
        self.family = family
        self.address = address
        self.prefixLength = prefixLength
        self.isCIDR = isCIDR
    }

    private static func readIPv4(_ reader: inout ValueReader) throws(PGValueDecodingError) -> [UInt8] {
        var bytes: [UInt8] = []
        for index in 0..<4 {
            if index > 0 { try reader.expect(UInt8(ascii: ".")) }
            let start = reader.offset
            let (octet, _) = try reader.readDigits(max: 3)
            guard octet <= 255 else { throw reader.error("an octet from 0 to 255", at: start) }
            bytes.append(UInt8(octet))
        }
        return bytes
    }

    private static func readIPv6(_ reader: inout ValueReader) throws(PGValueDecodingError) -> [UInt8] {
        var head: [UInt8] = []
        var tail: [UInt8] = []
        var compressed = false
        if reader.consume("::") {
            compressed = true
        }
        while !reader.isAtEnd {
            let groupStart = reader.offset
            // An embedded IPv4 address ends the address.
            var probe = reader.offset
            while probe < reader.bytes.count, hexDigitValue(reader.bytes[probe]) != nil { probe += 1 }
            if probe < reader.bytes.count, reader.bytes[probe] == UInt8(ascii: ".") {
                let v4 = try readIPv4(&reader)
                if compressed { tail += v4 } else { head += v4 }
                break
            }
            var value: UInt16 = 0
            var digits = 0
            while let byte = reader.peek(), let nibble = hexDigitValue(byte) {
                guard digits < 4 else { throw reader.error("at most four hex digits in a group") }
                value = value << 4 | UInt16(nibble)
                digits += 1
                reader.offset += 1
            }
            guard digits > 0 else { throw reader.error("a hexadecimal group", at: groupStart) }
            let group: [UInt8] = [UInt8(value >> 8), UInt8(value & 0xFF)]
            if compressed { tail += group } else { head += group }
            if reader.isAtEnd { break }
            if !compressed, reader.consume("::") {
                compressed = true
                continue
            }
            try reader.expect(UInt8(ascii: ":"))
            if reader.isAtEnd { throw reader.error("a hexadecimal group") }
        }
        let total = head.count + tail.count
        guard compressed ? total <= 14 : total == 16 else {
            throw reader.error("an IPv6 address of eight groups", at: 0)
        }
        return head + [UInt8](repeating: 0, count: 16 - total) + tail
    }

    /// Binary (`inet_send`): family, bits, is-cidr flag, address length, address.
    static func decodeBinary(_ reader: inout ValueReader) throws(PGValueDecodingError) -> PGInet {
        let familyByte = try reader.readInteger(as: UInt8.self)
        let bits = try reader.readInteger(as: UInt8.self)
        let cidrFlag = try reader.readInteger(as: UInt8.self)
        let length = try reader.readInteger(as: UInt8.self)
        let family: Family
        switch familyByte {
        case 2: family = .ipv4
        case 3: family = .ipv6
        default: throw reader.error("address family 2 (IPv4) or 3 (IPv6)", at: 0)
        }
        guard Int(length) == family.addressLength else {
            throw reader.error("an address length of \(family.addressLength)", at: 3)
        }
        guard Int(bits) <= family.addressLength * 8 else {
            throw reader.error("a prefix length within the family", at: 1)
        }
        let address = Array(try reader.readSlice(length: Int(length)))
        try reader.expectEnd()
        return PGInet(unchecked: family, address: address, prefixLength: bits, isCIDR: cidrFlag != 0)
    }
}
