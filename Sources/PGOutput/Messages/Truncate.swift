extension PGOutputMessage {
    /// `T`: one `TRUNCATE` statement covering one or more published tables.
    ///
    /// Layout after the tag: [Int32 xid, inside a stream block], Int32 relation count, Int8 options
    /// (1 = `CASCADE`, 2 = `RESTART IDENTITY`), that many Int32 relation OIDs.
    ///
    /// Related PostgreSQL documentation:
    /// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
    public struct Truncate: Hashable, Sendable {
        /// The options given to `TRUNCATE`.
        public struct Options: OptionSet, Hashable, Sendable {
            public var rawValue: UInt8
            public init(rawValue: UInt8) { self.rawValue = rawValue }

            /// `TRUNCATE … CASCADE`.
            public static let cascade = Options(rawValue: 1)
            /// `TRUNCATE … RESTART IDENTITY`.
            public static let restartIdentity = Options(rawValue: 2)
        }

        /// The streamed-transaction xid, present only inside a stream block.
        public var xid: UInt32?
        /// The statement's options.
        public var options: Options
        /// The OIDs of the truncated tables.
        public var relationOIDs: [UInt32]

        public init(xid: UInt32? = nil, options: Options, relationOIDs: [UInt32]) {
            self.xid = xid
            self.options = options
            self.relationOIDs = relationOIDs
        }

        static func decode(from reader: inout MessageReader, streamXID: Bool) throws(PGOutputDecodingError) -> Self {
            let xid = try reader.readStreamXID(present: streamXID)
            let countOffset = reader.offset
            let count = Int(try reader.readInteger(as: Int32.self))
            guard count >= 0 else { throw reader.error(.invalidCount(count), at: countOffset) }
            let options = Options(rawValue: try reader.readByte())
            var oids: [UInt32] = []
            oids.reserveCapacity(min(count, reader.remaining / 4))
            for _ in 0..<count {
                oids.append(try reader.readInteger(as: UInt32.self))
            }
            return Self(xid: xid, options: options, relationOIDs: oids)
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeStreamXID(xid)
            writer.writeInteger(Int32(clamping: relationOIDs.count))
            writer.writeInteger(options.rawValue)
            for oid in relationOIDs { writer.writeInteger(oid) }
        }
    }
}
