// The one type of the PGReplication module the encoders' value code names, for the `encoders`
// fuzz target (Fuzz/run.sh builds it as a module named PGReplication): the real module needs
// libpq, which the fuzz build does not link.

package enum ColumnFacts {
    package struct DomainBase: Hashable, Sendable {
        package var oid: UInt32
        package var modifier: Int32

        package init(oid: UInt32, modifier: Int32) {
            self.oid = oid
            self.modifier = modifier
        }
    }
}
