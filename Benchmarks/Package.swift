// swift-tools-version: 6.1
// Benchmarks for swift-pg-replication, kept in their own package so the main build stays light.
// See README.md beside this file.
import PackageDescription

let package = Package(
    name: "swift-pg-replication-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "swift-pg-replication", path: ".."),
        .package(
            url: "https://github.com/ordo-one/package-benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Shared corpus loading and the measured loops.
        .target(
            name: "DecoderWorkload",
            dependencies: [.product(name: "PGOutput", package: "swift-pg-replication")],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        // Plain figures (messages/s, rows/s) for Benchmarks/decoder.sh.
        .executableTarget(
            name: "DecoderFigures",
            dependencies: ["DecoderWorkload"],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        // The Swift consumers of Benchmarks/run (end-to-end replication figures).
        .executableTarget(
            name: "ReplicationBench",
            dependencies: [.product(name: "PGReplication", package: "swift-pg-replication")],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        // package-benchmark suites, with malloc counts: `swift package benchmark`.
        .executableTarget(
            name: "DecoderBenchmarks",
            dependencies: [
                "DecoderWorkload",
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/DecoderBenchmarks",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
