import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A new empty folder under the temporary folder, for a test's files.
public func temporaryFolder() throws -> String {
    let base =
        NSTemporaryDirectory().hasSuffix("/") ? String(NSTemporaryDirectory().dropLast()) : NSTemporaryDirectory()
    var template = Array((base + "/pgrepl-test.XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else {
        throw LocalClusterError(.commandFailed, "mkdtemp failed: \(String(cString: strerror(errno)))")
    }
    return String(cString: made)
}

/// A temporary folder as a value: ``temporaryFolder()`` and ``removeTemporary(_:)`` together.
public struct TemporaryFolder: Sendable {
    public let path: String

    public init() throws { path = try temporaryFolder() }

    /// Removes it (cleanup; see ``removeTemporary(_:)``).
    public func remove() { removeTemporary(path) }
}

/// Cleanup after a test: removes a temporary folder. Its checks ran before, so a removal that
/// fails only leaves the folder behind and hides nothing; it is ignored here, in one place.
public func removeTemporary(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// The descriptors of this process open on files in `folder` (tests run in parallel, so a count
/// of all descriptors would prove nothing). Throws where `/proc` cannot be read: an empty list
/// would pass a check for leaks.
public func descriptors(into folder: String) throws -> [String] {
    let entries = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
    guard !entries.isEmpty else { throw LocalClusterError(.commandFailed, "/proc/self/fd lists no descriptor") }
    return entries.compactMap { entry in
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/fd/" + entry, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return target.hasPrefix(folder) ? target : nil
    }
}
