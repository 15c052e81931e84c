/// A decoded value that cannot become the requested Swift type: the wrong kind of value, a number
/// out of the target's range, a NULL for a non-optional, or a missing column.
public struct PGValueConversionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The Swift type that was asked for.
    public var targetType: String
    /// The value that could not be converted (``PGValue/description``), or `nil` for a missing column.
    public var value: String?
    /// Why it failed.
    public var reason: String
    /// The column's name, when converting a ``PGRow`` column.
    public var column: String?

    public init(targetType: String, value: String?, reason: String, column: String? = nil) {
        self.targetType = targetType
        self.value = value
        self.reason = reason
        self.column = column
    }

    init<T>(_ target: T.Type, _ value: PGValue, _ reason: String = "not a compatible value") {
        self.init(targetType: String(describing: target), value: value.description, reason: reason)
    }

    public var description: String {
        var text = "cannot convert"
        if let value { text += " \(value)" }
        if let column { text += " in column \"\(column)\"" }
        return text + " to \(targetType): \(reason)"
    }
}
