// pgrepl-throwaway: a throwaway PostgreSQL cluster for shell scripts (the benchmarks and the
// fixture captures), made by PGLocalCluster, the same implementation the tests and `pgrepl demo`
// use. Scripts/throwaway-postgres.sh runs it; nothing else should.
//
//   pgrepl-throwaway ['name = value' ...]
//
// Starts a cluster with those postgresql.conf settings, prints `NAME=value` lines for the script
// to export (PGHOST, PGPORT, PGUSER, PGDATABASE, PG_THROWAWAY_DIR, PG_THROWAWAY_BINDIR), then
// `ready`, and keeps the cluster until its standard input ends (the script closes it, or dies):
// then it stops the server and removes its folder.
import Foundation
import PGLocalCluster

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("pgrepl-throwaway: \(message)\n".utf8))
    exit(1)
}

var settings: [String: String] = [:]
for argument in CommandLine.arguments.dropFirst() {
    guard let equals = argument.firstIndex(of: "=") else { fail("not a setting (name = value): \(argument)") }
    let name = argument[..<equals].trimmingCharacters(in: .whitespaces)
    var value = argument[argument.index(after: equals)...].trimmingCharacters(in: .whitespaces)
    if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") { value = String(value.dropFirst().dropLast()) }
    guard !name.isEmpty else { fail("not a setting (name = value): \(argument)") }
    settings[name] = value
}

LocalCluster.installSignalCleanup()
let cluster: LocalCluster
do {
    cluster = try LocalCluster.start(.init(settings: settings))
} catch {
    fail("cannot start a server: \(error)")
}
let lines = [
    "PGHOST=\(cluster.socketDirectory)", "PGPORT=\(cluster.port)", "PGUSER=postgres", "PGDATABASE=postgres",
    "PG_THROWAWAY_DIR=\(cluster.socketDirectory)", "PG_THROWAWAY_BINDIR=\(cluster.binDirectory)", "ready",
]
FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
// Until the script is done with it.
while true {
    var byte: UInt8 = 0
    let got = read(0, &byte, 1)
    if got == 0 || (got < 0 && errno != EINTR) { break }
}
cluster.destroy()
