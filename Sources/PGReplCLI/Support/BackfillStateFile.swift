import Foundation
import PGReplication

/// `--backfill-state FILE`: what `pgrepl stream --backfill` persists so that a restart resumes
/// the backfill after the last chunk written, instead of copying again from the start.
///
/// A small JSON file, replaced durably (written beside, fsync'd, renamed, folder fsync'd) after
/// each chunk's lines were written and synced, before the chunk is acknowledged.
struct BackfillStateFile: Codable, Equatable {
    /// The slot the backfill streams through.
    var slot: String
    /// The tables as asked for (`--backfill`, in order).
    var requested: [String]
    /// Where the backfill stands: the tables left and the last key written.
    var checkpoint: PGBackfillCheckpoint

    /// The file at `path`, or nil when there is none.
    static func read(_ path: String) throws(CLIError) -> BackfillStateFile? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let context = "reading --backfill-state \(path)"
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError.io(context) }
        do {
            return try JSONDecoder().decode(BackfillStateFile.self, from: data)
        } catch {
            throw CLIError(.usage, context, "not a pgrepl backfill state file (\(error))")
        }
    }

    func write(to path: String) throws(CLIError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text: String
        do {
            text = String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
        } catch {
            throw CLIError(.io, "writing --backfill-state \(path)", "\(error)")
        }
        try writeDurably(path, contents: text, sync: true)
    }

    /// What a run starts from, given `--backfill` (`requested`) and the file at `path`: the
    /// state to keep (nil: no backfill this run) and whether there is anything left to copy.
    ///
    /// - The same tables as the file's: resumed where the file says; nothing when it is complete.
    /// - Other tables: a new backfill, unless the file's is unfinished (an error: finish it, or
    ///   remove the file).
    /// - No `--backfill`: the file's backfill, resumed when unfinished.
    static func plan(requested: [String], slot: String, path: String) throws(CLIError) -> BackfillStateFile? {
        let context = "using --backfill-state \(path)"
        let file = try read(path)
        if let file, file.slot != slot {
            throw CLIError(
                .usage, context, "the file belongs to a backfill through slot \"\(file.slot)\", not \"\(slot)\"")
        }
        guard let file else {
            guard !requested.isEmpty else {
                throw CLIError(
                    .usage, context, "the file does not exist, and there is no --backfill to start",
                    hint: "name the tables with --backfill TABLE")
            }
            return BackfillStateFile(slot: slot, requested: requested, checkpoint: .init(tables: requested))
        }
        if requested.isEmpty || requested == file.requested { return file }
        guard file.checkpoint.isComplete else {
            throw CLIError(
                .usage, context,
                "the file holds an unfinished backfill of \(file.requested.joined(separator: ", ")),"
                    + " not of \(requested.joined(separator: ", "))",
                hint: "finish it (run with the same --backfill options), or remove the file to start over")
        }
        return BackfillStateFile(slot: slot, requested: requested, checkpoint: .init(tables: requested))
    }
}
