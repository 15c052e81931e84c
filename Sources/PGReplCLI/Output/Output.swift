import Foundation

/// Standard output and error, written with `write(2)` so that a failure (a closed pipe, a full
/// disk) becomes an I/O error (exit 4) instead of being lost.
enum Output {
    /// Writes text to stdout.
    static func print(_ text: String, terminator: String = "\n") throws(CLIError) {
        try writeAll(Array((text + terminator).utf8), to: STDOUT_FILENO, context: "writing to stdout")
    }

    /// Writes one line to stderr (failures there are ignored: there is nowhere left to report them).
    static func printError(_ line: String) {
        try? writeAll(Array((line + "\n").utf8), to: STDERR_FILENO, context: "writing to stderr")
    }

    /// Writes every byte at the file's current position, retrying on EINTR and short writes.
    static func writeAll(_ bytes: [UInt8], to fd: Int32, context: @autoclosure () -> String) throws(CLIError) {
        let text = context()
        try bytes.withUnsafeBytes { raw in Result { () throws(CLIError) in try writeAll(raw, to: fd, context: text) } }
            .get()
    }

    /// Writes every byte at the file's current position, retrying on EINTR and short writes.
    static func writeAll(
        _ raw: UnsafeRawBufferPointer, to fd: Int32, context: @autoclosure () -> String
    ) throws(CLIError) {
        var done = 0
        while done < raw.count {
            let count = write(fd, raw.baseAddress.map { $0 + done }, raw.count - done)
            if count < 0 {
                if errno == EINTR { continue }
                throw CLIError.io(context())
            }
            done += count
        }
    }
}

/// A text table: a header row and left-aligned columns two spaces apart.
func renderTable(header: [String], rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() where index < widths.count {
            widths[index] = max(widths[index], cell.count)
        }
    }
    func render(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    return ([render(header)] + rows.map(render)).joined(separator: "\n")
}

/// Sorted, pretty-printed JSON for a value.
func renderJSON(_ value: some Encodable) throws(CLIError) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return try attempt("encoding JSON") { String(decoding: try encoder.encode(value), as: UTF8.self) }
}

/// `1 transaction`, `2 transactions`.
func counted(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
