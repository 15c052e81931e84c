extension PGOutputMessage {
    /// The old values carried by an Update or Delete: either the replica identity key (`K`) or the
    /// whole old row (`O`, with `REPLICA IDENTITY FULL`).
    public struct OldTuple: Hashable, Sendable {
        /// Which old values the tuple holds.
        public enum Kind: UInt8, Hashable, Sendable, CaseIterable {
            /// `K`: only the replica identity key columns; the others are `null`.
            case key = 0x4B  // ascii: K
            /// `O`: the whole old row.
            case old = 0x4F  // ascii: O
        }

        public var kind: Kind
        public var tuple: TupleData

        public init(kind: Kind, tuple: TupleData) {
            self.kind = kind
            self.tuple = tuple
        }

        func encode(into writer: inout ByteWriter) {
            writer.writeInteger(kind.rawValue)
            tuple.encode(into: &writer)
        }
    }
}

/// The marker bytes that introduce the tuples of Insert, Update and Delete messages.
enum TupleMarker {
    /// The `N` marker byte that precedes a new tuple.
    static let newTupleMarker = UInt8(ascii: "N")
    /// The bytes allowed where only a new tuple may start.
    static let newTupleMarkers: [UInt8] = [newTupleMarker]
    /// The bytes allowed where an old tuple must start (Delete).
    static let oldTupleMarkers: [UInt8] = PGOutputMessage.OldTuple.Kind.allCases.map(\.rawValue)
    /// The bytes allowed where an optional old tuple or the new tuple starts (Update).
    static let updateTupleMarkers: [UInt8] = oldTupleMarkers + newTupleMarkers
}

extension ByteReader where Context == MessageContext {
    /// Reads the `N` that introduces a new tuple.
    @inline(__always)
    mutating func readNewTupleMarker() throws(PGOutputDecodingError) {
        let start = offset
        let byte = try readByte()
        guard byte == TupleMarker.newTupleMarker else {
            throw error(.unexpectedByte(expected: TupleMarker.newTupleMarkers, found: byte), at: start)
        }
    }
}
