extension PGOutputMessage {
    /// `E`: the end of a block of streamed changes. It has no fields.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct StreamStop: Hashable, Sendable {
        public init() {}
    }
}
