extension TupleData {
    /// Whether any column is an unchanged TOAST value that the server did not send.
    public var hasUnchangedToast: Bool { columns.contains(.unchangedToast) }

    /// This tuple with every ``Column/unchangedToast`` column replaced by the value at the same
    /// position in `old`, when `old` has a real value (not `null` or `unchangedToast`) there.
    ///
    /// Use it on an Update's new tuple with the old row (`O`, sent for `REPLICA IDENTITY FULL`):
    /// the server omits unchanged out-of-line values from the new row but sends them in the old
    /// one. With only an old key (`K`) or no old tuple, unchanged TOAST columns stay as they are;
    /// the consumer has to keep its current value for them.
    ///
    /// - Parameter old: The old tuple of the same change, or `nil`.
    /// - Returns: The tuple with the gaps filled where possible.
    public func fillingUnchangedToast(from old: TupleData?) -> TupleData {
        guard let old, hasUnchangedToast else { return self }
        var filled = self
        for index in filled.columns.indices where filled.columns[index] == .unchangedToast {
            guard index < old.columns.count else { break }
            switch old.columns[index] {
            case .text, .binary: filled.columns[index] = old.columns[index]
            case .null, .unchangedToast: break
            }
        }
        return filled
    }
}
