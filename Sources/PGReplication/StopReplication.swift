/// Thrown by a ``ReplicationCursor/consumeStream(keepaliveInterval:idleInterval:onIdle:_:)`` consumer to leave the loop.
///
/// Like every error the consumer throws, it propagates out of `consumeStream` unchanged; it is not
/// a `PGError` because stopping is not a failure. The stream is still open afterwards: call
/// ``ReplicationCursor/stopReplication()`` to end it and use the connection again, or
/// `consumeStream` to go on.
///
/// ```swift
/// do {
///     try cursor.consumeStream { message in
///         if done { throw StopReplication() }
///     }
/// } catch is StopReplication {}
/// ```
public struct StopReplication: Error, Sendable, Hashable {
    public init() {}
}
