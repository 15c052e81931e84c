extension TupleData {
    /// Whether any column is an unchanged TOAST value that the server did not send.
    public var hasUnchangedToast: Bool {
        wire.withUnsafeBytes { buffer in
            var cursor = ColumnCursor(buffer)
            while let (kind, _) = cursor.next() {
                if kind == .unchangedToast { return true }
            }
            return false
        }
    }

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
        var filled = columns
        let oldColumns = old.columns
        for index in filled.indices where filled[index] == .unchangedToast {
            guard index < oldColumns.count else { break }
            switch oldColumns[index] {
            case .text, .binary: filled[index] = oldColumns[index]
            case .null, .unchangedToast: break
            }
        }
        return TupleData(columns: filled)
    }
}
