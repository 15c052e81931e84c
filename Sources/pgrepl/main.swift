import Foundation
import PGReplCLI

exit(await PGRepl.main(arguments: Array(CommandLine.arguments.dropFirst())))
