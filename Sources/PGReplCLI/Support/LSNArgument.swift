import ArgumentParser
import PGReplication

/// Parses an LSN option (`--endpos 0/1D767E8`): `@Option(transform: parseLSNArgument)`.
/// A bad value is a usage error naming the option and the text.
func parseLSNArgument(_ text: String) throws -> LSN {
    do {
        return try LSN(text)
    } catch {
        throw ValidationError(error.reason)
    }
}
