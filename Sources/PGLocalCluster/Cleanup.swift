import Dispatch
import Foundation
import Logging
import PGSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension LocalCluster {
    private static let sharedClusters = Locked<[Configuration: Result<LocalCluster, any Error>]>([:])

    /// One cluster per configuration for the whole process, started on first use (thread-safe) and
    /// destroyed at process exit. A failed start is remembered and thrown again to every caller.
    /// The logger of the first call is used. Do not call ``destroy()`` or leave it stopped: other tests share it.
    public static func shared(
        _ configuration: Configuration = .init(), logger: Logger = .disabled
    ) throws -> LocalCluster {
        try sharedClusters.withLock { clusters in
            if let known = clusters[configuration] { return try known.get() }
            let result = Result { try start(configuration, logger: logger) }
            clusters[configuration] = result
            return try result.get()
        }
    }

    /// On SIGINT or SIGTERM, destroys every live cluster and exits with 130 or 143. For command-line
    /// tools such as `pgrepl demo`; call it once, early. Normal exits are already covered by an
    /// `atexit` handler. SIGKILL cannot be handled: the server and its folder then stay behind.
    public static func installSignalCleanup() {
        SignalCleanup.install()
    }
}

/// Every cluster that has a folder on disk, so that it can be removed when the process exits.
/// It keeps paths, not the clusters, so it never keeps a cluster alive.
enum ClusterRegistry {
    private static let live = Locked<[String: String]>([:])  // folder -> data directory
    private static let exitHandler: Void = { _ = atexit { ClusterRegistry.destroyAll() } }()

    static func register(root: String, dataDirectory: String) {
        _ = exitHandler
        live.withLock { $0[root] = dataDirectory }
    }

    // The lock is held while removing, so that a signal handler and an exiting main thread never
    // tear down the same cluster at once, and neither exits while the other is half-way.
    static func destroy(root: String) {
        live.withLock { clusters in
            guard let dataDirectory = clusters.removeValue(forKey: root) else { return }
            remove(root: root, dataDirectory: dataDirectory)
        }
    }

    static func destroyAll() {
        live.withLock { clusters in
            for (root, dataDirectory) in clusters { remove(root: root, dataDirectory: dataDirectory) }
            clusters = [:]
        }
    }

    /// Immediate shutdown by signal (what `pg_ctl -m immediate stop` does, without starting a process,
    /// so it also works from exit and signal handlers), then removes the folder.
    private static func remove(root: String, dataDirectory: String) {
        let pidFile = dataDirectory + "/postmaster.pid"
        if let text = readFile(pidFile).map({ String(decoding: $0, as: UTF8.self) }),
            let firstLine = text.split(separator: "\n").first,
            let pid = pid_t(firstLine.trimmingCharacters(in: .whitespaces)), pid > 0,
            isPostmaster(pid, of: dataDirectory)
        {
            func alive() -> Bool {
                FileManager.default.fileExists(atPath: pidFile) && (kill(pid, 0) == 0 || errno == EPERM)
            }
            if kill(pid, SIGQUIT) == 0 {
                // The postmaster ends its children (SIGKILL after 5 s) and removes its pid file.
                var waited = 0
                while alive() && waited < 200 {
                    usleep(50_000)
                    waited += 1
                }
                if alive() { kill(pid, SIGKILL) }
            }
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Guards against a stale pid file whose number now belongs to another process: on Linux the
    /// postmaster's command line names its data directory.
    private static func isPostmaster(_ pid: pid_t, of dataDirectory: String) -> Bool {
        guard FileManager.default.fileExists(atPath: "/proc/self/cmdline") else { return true }
        guard let commandLine = readFile("/proc/\(pid)/cmdline") else { return false }
        return String(decoding: commandLine, as: UTF8.self).contains(dataDirectory)
    }
}

private enum SignalCleanup {
    private static let sources = Locked<[any DispatchSourceSignal]>([])

    static func install() {
        sources.withLock { sources in
            guard sources.isEmpty else { return }
            for (number, status) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
                signal(number, SIG_IGN)  // let the dispatch source receive it instead of the default action
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    ClusterRegistry.destroyAll()
                    exit(status)
                }
                source.resume()
                sources.append(source)
            }
        }
    }
}
