extension PGOutputMessage {
    /// `O`: the replication origin of the transaction (follows Begin or Begin Prepare).
    ///
    /// Layout after the tag: Int64 commit LSN on the origin server, String origin name.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct Origin: Hashable, Sendable {
        /// The commit LSN on the origin server (zero inside streamed transactions).
        public var commitLSN: LSN
        /// The origin's name.
        public var name: String

        public init(commitLSN: LSN, name: String) {
            self.commitLSN = commitLSN
            self.name = name
        }

        static func decode(from reader: inout MessageReader) throws(PGOutputDecodingError) -> Self {
            Self(commitLSN: try reader.readLSN(), name: try reader.readNullTerminatedString())
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeLSN(commitLSN)
            writer.writeNullTerminatedString(name)
        }
    }
}
