import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The result of a finished child process.
struct CommandOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs child processes, as the `postgres` user when this process is root (PostgreSQL refuses to run as root).
struct CommandRunner: Sendable {
    /// The account the server commands run as when this process is root.
    struct ServerAccount: Sendable, Hashable {
        var userID: uid_t
        var groupID: gid_t
        var runuser: String
    }

    /// Set when this process is root: server commands then go through `runuser -u postgres --`.
    let serverAccount: ServerAccount?

    static func forCurrentUser() throws -> CommandRunner {
        guard geteuid() == 0 else { return CommandRunner(serverAccount: nil) }
        guard let entry = getpwnam("postgres") else {
            throw LocalClusterError(
                .setupFailed,
                "running as root, but there is no 'postgres' user to run the server as (PostgreSQL refuses to run as root); create one (useradd --system postgres) or run as a normal user"
            )
        }
        let candidates = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"]
        guard let runuser = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw LocalClusterError(
                .setupFailed,
                "running as root, but `runuser` (util-linux) was not found in \(candidates.joined(separator: ", ")); it is needed to run the server as 'postgres'"
            )
        }
        return CommandRunner(
            serverAccount: ServerAccount(userID: entry.pointee.pw_uid, groupID: entry.pointee.pw_gid, runuser: runuser))
    }

    /// The first executable `name` in the `PATH` of `environment`.
    static func findOnPath(
        _ name: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String? {
        (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
            .map { $0 + "/" + name }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Makes `path` owned by the server account (when root) and sets its permissions.
    func prepare(_ path: String, permissions: Int) throws {
        var attributes: [FileAttributeKey: Any] = [.posixPermissions: permissions]
        if let account = serverAccount {
            attributes[.ownerAccountID] = Int(account.userID)
            attributes[.groupOwnerAccountID] = Int(account.groupID)
        }
        do {
            try FileManager.default.setAttributes(attributes, ofItemAtPath: path)
        } catch {
            throw LocalClusterError(.setupFailed, "could not set owner/permissions of \(path): \(error)")
        }
    }

    /// Runs `executable` and waits for it. `asServer` runs it as `postgres` when root.
    /// Variables starting with `PG` are removed from the inherited environment so that the caller's
    /// `PGHOST`, `PGPASSWORD`, ... cannot redirect a command; `environment` is added afterwards.
    func run(
        _ executable: String, _ arguments: [String], asServer: Bool = false,
        environment: [String: String] = [:], directory: String? = nil
    ) throws -> CommandOutput {
        var commandLine = [executable] + arguments
        if asServer, let account = serverAccount {
            commandLine = [account.runuser, "-u", "postgres", "--"] + commandLine
        }
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        env.merge(environment) { _, new in new }
        let stdout = try TemporaryOutput()
        let stderr = try TemporaryOutput()
        let status = try spawnAndWait(
            commandLine, environment: env.map { "\($0.key)=\($0.value)" }, directory: directory, stdout: stdout.fd,
            stderr: stderr.fd)
        return CommandOutput(status: status, stdout: stdout.contents(), stderr: stderr.contents())
    }

    /// Like ``run(_:_:asServer:environment:directory:)`` but throws when the exit status is not 0.
    @discardableResult
    func check(
        _ what: String, _ executable: String, _ arguments: [String], asServer: Bool = false,
        environment: [String: String] = [:], directory: String? = nil
    ) throws -> String {
        let output = try run(executable, arguments, asServer: asServer, environment: environment, directory: directory)
        guard output.status == 0 else {
            throw LocalClusterError(
                .commandFailed, "\(what) failed with exit status \(output.status)",
                command: [executable] + arguments, details: output.stderr.isEmpty ? output.stdout : output.stderr)
        }
        return output.stdout
    }
}

/// Starts a child with `posix_spawn` and waits for it.
///
/// Foundation's `Process` is not used: it notices the end of a child through a socket that the child
/// inherits, and the postmaster that `pg_ctl start` leaves behind inherits it as well, so waiting for
/// `pg_ctl` would last as long as the server. Here every descriptor above 2 is closed in the child, and
/// signal dispositions and the mask are reset (an ignored SIGINT would otherwise reach the server).
private func spawnAndWait(
    _ commandLine: [String], environment: [String], directory: String?, stdout: Int32, stderr: Int32
) throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, stdout, 1)
    posix_spawn_file_actions_adddup2(&actions, stderr, 2)
    if let directory {
        guard let addchdir = SpawnExtensions.addchdir, addchdir(&actions, directory) == 0 else {
            throw LocalClusterError(
                .commandFailed,
                "cannot set the working directory of a child process (posix_spawn_file_actions_addchdir_np)",
                command: commandLine)
        }
    }
    _ = SpawnExtensions.addclosefrom?(&actions, 3)

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var signals = sigset_t()
    sigemptyset(&signals)
    posix_spawnattr_setsigmask(&attributes, &signals)
    for number: Int32 in 1..<32 where number != SIGKILL && number != SIGSTOP { sigaddset(&signals, number) }
    posix_spawnattr_setsigdefault(&attributes, &signals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    let argv = commandLine.map { strdup($0) } + [nil]
    let envp = environment.map { strdup($0) } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, commandLine[0], &actions, &attributes, argv, envp)
    guard spawned == 0 else {
        throw LocalClusterError(
            .commandFailed, "could not start \(commandLine[0]): \(String(cString: strerror(spawned)))",
            command: commandLine)
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 {
        guard errno == EINTR else {
            throw LocalClusterError(
                .commandFailed, "waitpid failed: \(String(cString: strerror(errno)))", command: commandLine)
        }
    }
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}

/// glibc's posix_spawn additions, which the Glibc module does not import.
private enum SpawnExtensions {
    typealias AddChdir =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    static let addchdir = dlsym(nil, "posix_spawn_file_actions_addchdir_np").map {
        unsafeBitCast($0, to: AddChdir.self)
    }
    static let addclosefrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
        unsafeBitCast($0, to: AddClosefrom.self)
    }
}

/// An anonymous temporary file that a child process writes into (no pipes: no reader threads, and no
/// deadlock when a command writes a lot to both streams).
private final class TemporaryOutput {
    let fd: Int32

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/pglocalcluster-output.XXXXXX").utf8CString)
        fd = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.map { mkstemp($0) } ?? -1
        }
        guard fd >= 0 else {
            throw LocalClusterError(
                .setupFailed,
                "could not create a temporary file in \(NSTemporaryDirectory()): \(String(cString: strerror(errno)))")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { buffer in _ = buffer.baseAddress.map { unlink($0) } }
    }

    deinit { close(fd) }

    func contents() -> String {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if count <= 0 { break }
            data += chunk[0..<count]
            offset += off_t(count)
        }
        return String(decoding: data, as: UTF8.self)
    }
}
