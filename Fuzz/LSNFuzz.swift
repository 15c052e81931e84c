// libFuzzer harness for the LSN text parser (`LSN.init(_:)`, used on every LSN the server sends
// as text). Not a package target: Fuzz/run.sh compiles it against the PGOutput module.
//
// Input: any bytes, read as UTF-8 (invalid sequences become U+FFFD).
// Properties checked: parsing never traps; text is accepted exactly when it is 1-8 hex digits,
// '/', 1-8 hex digits; an accepted LSN prints as text that parses back to the same LSN; a refusal
// names the input.

import PGOutput

@_cdecl("LLVMFuzzerTestOneInput")
public func lsnFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let expectedValid = isWellFormedLSN(Array(text.utf8))
    do {
        let lsn = try LSN(text)
        guard expectedValid else { fatalError("accepted a malformed LSN: \(text.debugDescription)") }
        guard let again = try? LSN(lsn.description), again == lsn else {
            fatalError("\(lsn) does not parse back to itself")
        }
    } catch {
        guard !expectedValid else { fatalError("refused a well-formed LSN: \(text.debugDescription): \(error)") }
        guard error.input == text, !error.description.isEmpty else { fatalError("the error does not name the input") }
    }
    // A substring (non-zero start index) must behave the same.
    let tail = text.dropFirst()
    if (try? LSN(tail)) != nil, !isWellFormedLSN(Array(tail.utf8)) {
        fatalError("accepted a malformed LSN substring: \(tail.debugDescription)")
    }
    return 0
}

private func isWellFormedLSN(_ bytes: [UInt8]) -> Bool {
    func isHex(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }
    let halves = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    return halves.count == 2 && halves.allSatisfy { (1...8).contains($0.count) && $0.allSatisfy(isHex) }
}
