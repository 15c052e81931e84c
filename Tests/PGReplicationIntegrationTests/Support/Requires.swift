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
