import Foundation
import PGLocalCluster
import Testing

/// The built `pgrepl` binary, run as a subprocess.
enum PGReplBinary {
    /// `PGREPL_BINARY`, else `pgrepl` next to the test bundle (`.build/<config>/`).
    static func url() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["PGREPL_BINARY"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        // On macOS the runner sits inside the .xctest bundle.
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("pgrepl")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder.deleteLastPathComponent()
        }
        throw CLITestError("pgrepl not found next to the test bundle (\(CommandLine.arguments[0])); set PGREPL_BINARY")
    }
}

struct CLITestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// What a finished run printed and its exit status.
struct RunResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var stderrLines: [Substring] { stderr.split(separator: "\n") }
    var description: String { "status \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// A running process whose output is collected in files (no pipe to fill up).
///
/// Started with `posix_spawn`, an empty signal mask and default signal actions: tests run on
/// threads that block SIGINT and SIGTERM, and a child would inherit that (Foundation's `Process`
/// does not reset it), so it could not be stopped with a signal.
final class RunningProcess {
    let pid: pid_t
    let name: String
    private let outPath: String
    private let errPath: String
    private var exitStatus: Int32?

    init(_ executable: URL, _ arguments: [String]) throws {
        let folder = FileManager.default.temporaryDirectory.path
        let id = UUID().uuidString
        outPath = "\(folder)/pgrepl-test-\(id).out"
        errPath = "\(folder)/pgrepl-test-\(id).err"
        name = executable.lastPathComponent

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable.path, &actions, &attributes, argv, environ)
        guard result == 0 else {
            throw CLITestError("cannot start \(executable.path): \(String(cString: strerror(result)))")
        }
        self.pid = pid
    }

    /// Starts `pgrepl` with arguments.
    static func pgrepl(_ arguments: [String]) throws -> RunningProcess {
        try RunningProcess(PGReplBinary.url(), arguments)
    }

    /// Whether the process still runs (reaps it when it ended).
    var isRunning: Bool {
        guard exitStatus == nil else { return false }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return true }
        // Exit status, or 128 + signal for a death by signal (as a shell reports it).
        let signal = status & 0x7f
        exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return false
    }

    var stderr: String { readTextFile(errPath) }

    func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
    }

    /// Waits for the end (killing the process after `seconds`) and returns what it printed.
    func finish(within seconds: Double = 60) throws -> RunResult {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if isRunning {
            kill(pid, SIGKILL)
            while isRunning { Thread.sleep(forTimeInterval: 0.02) }
            throw CLITestError("\(name) did not end within \(seconds) s: \(stderr)")
        }
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        return RunResult(
            status: exitStatus ?? -1, stdout: readTextFile(outPath), stderr: stderr)
    }
}

/// Runs `pgrepl` to the end.
func pgrepl(_ arguments: String...) throws -> RunResult {
    try RunningProcess.pgrepl(arguments).finish()
}

/// Asserts a failure: the status, and exactly one line on stderr that starts with `pgrepl:`.
func expectFailure(
    _ result: RunResult, status: Int32, containing parts: [String], sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result.status == status, "\(result)", sourceLocation: sourceLocation)
    #expect(result.stderrLines.count == 1, "\(result)", sourceLocation: sourceLocation)
    #expect(result.stderr.hasPrefix("pgrepl: "), "\(result)", sourceLocation: sourceLocation)
    for part in parts {
        #expect(result.stderr.contains(part), "missing \(part): \(result)", sourceLocation: sourceLocation)
    }
}
