import PGLocalCluster
import Testing

extension Trait where Self == ConditionTrait {
    /// Runs the test only where the server build has `feature` (or where the lane requires it);
    /// elsewhere the test is reported as skipped with the feature named: the PostgreSQL 15 lane,
    /// which has every feature, runs it.
    static func requires(_ feature: ServerFeatures.Feature) -> Self {
        .enabled(
            if: ServerFeatures.current.runs(feature), Comment(rawValue: ServerFeatures.current.reason(feature)))
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only on PostgreSQL `major` or later; elsewhere it is reported as skipped with
    /// the version named: the lanes of later servers run it.
    static func requires(postgres major: Int) -> Self {
        let current = ServerFeatures.current.majorVersion
        return .enabled(
            if: current >= major,
            Comment(
                rawValue:
                    "needs PostgreSQL \(major) or later; this server is PostgreSQL \(current) (the \(major >= 17 ? "18" : "16 and 18") lanes run it)"
            ))
    }
}
