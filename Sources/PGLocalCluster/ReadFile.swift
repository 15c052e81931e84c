#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The whole content of a file, read with POSIX calls; nil when it cannot be opened.
///
/// FoundationEssentials' `FileManager.contents(atPath:)` and `String(contentsOfFile:)` leak their
/// read buffer for files whose size is 0 when opened (LeakSanitizer reports it), which `/proc`
/// files and fresh output files are.
package func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &chunk, chunk.count)
        if count < 0, errno == EINTR { continue }
        if count <= 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return bytes
}

/// The whole text of a file ("" when it cannot be read), read with POSIX calls (see `readFile`).
package func readTextFile(_ path: String) -> String {
    String(decoding: readFile(path) ?? [], as: UTF8.self)
}
