import ArgumentParser
import Foundation

/// The root command. Subcommands are listed in ``configuration``; each is a `ParsableCommand`
/// (or `AsyncParsableCommand`) that throws ``CLIError`` for failures (``attempt(_:_:)`` turns
/// library errors into them) and takes the shared ``ConnectionOptions`` with `@OptionGroup`.
public struct PGRepl: ParsableCommand {
    /// The tool's version, printed by `pgrepl --version`.
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "pgrepl",
        abstract:
            "PostgreSQL replication from the command line: a live demo, decoded change streams, replication slots and physical WAL archiving.",
        discussion: """
            Exit statuses: \(ExitStatus.allCases.map { "\($0.rawValue) \($0)" }.joined(separator: "; ")).
            Errors are one line on stderr: "pgrepl: <what failed>: <message> (SQLSTATE …); hint: …".
            """,
        version: version,
        subcommands: [
            DemoCommand.self, StreamCommand.self, SlotCommand.self, CheckCommand.self, ReceiveWALCommand.self,
        ]
    )

    public init() {}

    /// Parses `arguments`, runs the command, reports any failure as one line on stderr and
    /// returns the exit status. `pgrepl`'s `main.swift` is `exit(await PGRepl.main(arguments:))`.
    public static func main(arguments: [String]) async -> Int32 {
        // A closed stdout must be an I/O error (exit 4), not a silent death by SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            return reportParseError(error, arguments: arguments)
        }
        do {
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                var command = command
                try command.run()
            }
            return ExitStatus.success.rawValue
        } catch let error as CLIError {
            Output.printError(error.line)
            return error.status.rawValue
        } catch {
            // Errors from the argument parser raised in run() (ValidationError, CleanExit, ExitCode).
            return reportParseError(error, arguments: arguments)
        }
    }

    /// Help and `--version` go to stdout with status 0; usage errors are one line on stderr with
    /// status 1, naming the help to read.
    static func reportParseError(_ error: any Error, arguments: [String]) -> Int32 {
        let code = exitCode(for: error)
        if code == .success {
            try? Output.print(fullMessage(for: error))
            return ExitStatus.success.rawValue
        }
        if let error = error as? CLIError {
            Output.printError(error.line)
            return error.status.rawValue
        }
        if let error = error as? ExitCode {
            return error.rawValue
        }
        let path = (["pgrepl"] + subcommandPath(arguments)).joined(separator: " ")
        let usage = CLIError(.usage, "", "\(message(for: error)) (see '\(path) --help')")
        Output.printError(usage.line)
        return usage.status.rawValue
    }

    /// The names of the subcommands at the start of `arguments` (`slot create` in `slot create --slot x`).
    static func subcommandPath(_ arguments: [String]) -> [String] {
        var path: [String] = []
        var command: any ParsableCommand.Type = PGRepl.self
        for argument in arguments {
            guard
                let next = command.configuration.subcommands.first(where: {
                    $0.configuration.commandName == argument || $0.configuration.aliases.contains(argument)
                })
            else { break }
            path.append(argument)
            command = next
        }
        return path
    }
}
