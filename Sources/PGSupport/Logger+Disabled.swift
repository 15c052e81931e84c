import Logging

extension Logger {
    /// The logger used when the caller gives none: it drops everything. (Public so that public
    /// default arguments can name it; the target is no product, so no library user sees it.)
    public static let disabled = Logger(label: "PGReplication", factory: { _ in SwiftLogNoOpLogHandler() })
}
