// libFuzzer harness for PGOutputDecoder. Not part of the package targets; build it with the
// command in Fuzz/README.md, which compiles it together with the PGOutput sources.
//
// Input layout: byte 0 selects the decoder configuration, the rest is one pgoutput message.
//   bits 0-1: protocol version - 1 (1 to 4)
//   bits 2-3: streaming mode (0 off, 1 on, 2 or 3 parallel)
//   bit 4:    decode a Stream Start first, so the message is read as inside a stream block
// Property checked: decoding never traps, and a message that decodes re-encodes to exactly the
// input bytes (the decoder keeps every field raw).

@_cdecl("LLVMFuzzerTestOneInput")
public func pgoutputDecoderFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let config = input.first else { return 0 }
    let message = UnsafeRawBufferPointer(rebasing: input.dropFirst())
    let streaming: PGOutputDecoder.StreamingMode =
        switch (config >> 2) & 3 {
        case 0: .off
        case 1: .on
        default: .parallel
        }
    var decoder = PGOutputDecoder(protocolVersion: Int(config & 3) + 1, streaming: streaming)
    if config & 0x10 != 0 {
        _ = try? decoder.decode([UInt8(ascii: "S"), 0, 0, 0, 1, 1])
    }
    guard let decoded = try? decoder.decode(message) else { return 0 }
    let encoded = PGOutputEncoder().encode(decoded)
    if !encoded.elementsEqual(message) {
        fatalError("re-encoding differs from the input for \(decoded)")
    }
    return 0
}
