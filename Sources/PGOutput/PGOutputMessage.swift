/// One decoded pgoutput message: the payload of one XLogData frame on a logical replication
/// stream that uses the `pgoutput` plugin.
///
/// Each case carries a payload struct nested in this enum (``Begin``, ``Insert``, …). Produce
/// values with ``PGOutputDecoder`` and turn them back into bytes with ``PGOutputEncoder``.
///
/// Messages that may be sent inside a streamed transaction (Relation, Type, Insert, Update, Delete,
/// Truncate, logical Message) carry `xid: UInt32?`, which is non-`nil` only between Stream Start and
/// Stream Stop. It is the id of the (sub)transaction that made the change.
///
/// Related PostgreSQL documentation:
/// <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
public enum PGOutputMessage: Hashable, Sendable {
    /// `B`: a transaction starts.
    case begin(Begin)
    /// `C`: a transaction commits.
    case commit(Commit)
    /// `O`: the replication origin of the current transaction.
    case origin(Origin)
    /// `R`: a table description.
    case relation(Relation)
    /// `Y`: a data type description.
    case type(TypeDefinition)
    /// `I`: a row was inserted.
    case insert(Insert)
    /// `U`: a row was updated.
    case update(Update)
    /// `D`: a row was deleted.
    case delete(Delete)
    /// `T`: tables were truncated.
    case truncate(Truncate)
    /// `M`: a logical decoding message.
    case message(LogicalMessage)
    /// `S`: a block of a streamed transaction starts.
    case streamStart(StreamStart)
    /// `E`: the block ends.
    case streamStop(StreamStop)
    /// `c`: a streamed transaction commits.
    case streamCommit(StreamCommit)
    /// `A`: a streamed (sub)transaction aborts.
    case streamAbort(StreamAbort)
    /// `b`: a prepared transaction starts.
    case beginPrepare(BeginPrepare)
    /// `P`: a transaction was prepared.
    case prepare(Prepare)
    /// `K`: a prepared transaction commits.
    case commitPrepared(CommitPrepared)
    /// `r`: a prepared transaction rolls back.
    case rollbackPrepared(RollbackPrepared)
    /// `p`: a streamed transaction was prepared.
    case streamPrepare(StreamPrepare)

    /// The tag byte that starts every pgoutput message.
    public enum MessageKind: UInt8, Hashable, Sendable, CaseIterable {
        case begin = 0x42  // ascii: B
        case commit = 0x43  // ascii: C
        case origin = 0x4F  // ascii: O
        case relation = 0x52  // ascii: R
        case type = 0x59  // ascii: Y
        case insert = 0x49  // ascii: I
        case update = 0x55  // ascii: U
        case delete = 0x44  // ascii: D
        case truncate = 0x54  // ascii: T
        case message = 0x4D  // ascii: M
        case streamStart = 0x53  // ascii: S
        case streamStop = 0x45  // ascii: E
        case streamCommit = 0x63  // ascii: c
        case streamAbort = 0x41  // ascii: A
        case beginPrepare = 0x62  // ascii: b
        case prepare = 0x50  // ascii: P
        case commitPrepared = 0x4B  // ascii: K
        case rollbackPrepared = 0x72  // ascii: r
        case streamPrepare = 0x70  // ascii: p

        /// The protocol's name for the message, such as `Stream Commit`.
        public var name: String {
            switch self {
            case .begin: "Begin"
            case .commit: "Commit"
            case .origin: "Origin"
            case .relation: "Relation"
            case .type: "Type"
            case .insert: "Insert"
            case .update: "Update"
            case .delete: "Delete"
            case .truncate: "Truncate"
            case .message: "Message"
            case .streamStart: "Stream Start"
            case .streamStop: "Stream Stop"
            case .streamCommit: "Stream Commit"
            case .streamAbort: "Stream Abort"
            case .beginPrepare: "Begin Prepare"
            case .prepare: "Prepare"
            case .commitPrepared: "Commit Prepared"
            case .rollbackPrepared: "Rollback Prepared"
            case .streamPrepare: "Stream Prepare"
            }
        }
    }

    /// The tag of this message.
    public var kind: MessageKind {
        switch self {
        case .begin: .begin
        case .commit: .commit
        case .origin: .origin
        case .relation: .relation
        case .type: .type
        case .insert: .insert
        case .update: .update
        case .delete: .delete
        case .truncate: .truncate
        case .message: .message
        case .streamStart: .streamStart
        case .streamStop: .streamStop
        case .streamCommit: .streamCommit
        case .streamAbort: .streamAbort
        case .beginPrepare: .beginPrepare
        case .prepare: .prepare
        case .commitPrepared: .commitPrepared
        case .rollbackPrepared: .rollbackPrepared
        case .streamPrepare: .streamPrepare
        }
    }

    /// The OID of the table an Insert, Update or Delete changes (look it up with
    /// ``PGOutputDecoder/relation(for:)-(UInt32)``); `nil` for other messages.
    public var relationOID: UInt32? {
        switch self {
        case .insert(let insert): insert.relationOID
        case .update(let update): update.relationOID
        case .delete(let delete): delete.relationOID
        default: nil
        }
    }

    /// The streamed-transaction xid of a message sent inside a Stream Start … Stream Stop block.
    public var streamXID: UInt32? {
        switch self {
        case .relation(let m): m.xid
        case .type(let m): m.xid
        case .insert(let m): m.xid
        case .update(let m): m.xid
        case .delete(let m): m.xid
        case .truncate(let m): m.xid
        case .message(let m): m.xid
        default: nil
        }
    }
}
