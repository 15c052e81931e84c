// swift-tools-version: 6.1
import Foundation
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "swift-pg-replication",
    products: [
        .library(name: "PGReplication", targets: ["PGReplication"]),
        .library(name: "PGOutput", targets: ["PGOutput"]),
        .executable(name: "pgrepl", targets: ["pgrepl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            path: "Modules/CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // The pgoutput decoder, typed values and LSN: pure Swift, usable on captured bytes.
        .target(name: "PGOutput", swiftSettings: swiftSettings),
        // The libpq-free protocol core: replication frames, the feedback state machine, the
        // transaction assembler and change events, PGError. Re-exported by PGReplication.
        .target(name: "PGReplicationCore", dependencies: ["PGOutput"], swiftSettings: swiftSettings),
        // What the package's targets share and library users never see: one lock, one no-op logger.
        .target(
            name: "PGSupport",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PGReplication",
            dependencies: [
                "CLibPQ", "PGOutput", "PGReplicationCore", "PGSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Throwaway PostgreSQL clusters for the tests, `pgrepl demo` and the benchmarks: no product.
        .target(
            name: "PGLocalCluster",
            dependencies: ["PGSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PGReplCLI",
            dependencies: [
                "PGReplication", "PGOutput", "PGLocalCluster", "PGSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "pgrepl", dependencies: ["PGReplCLI"], swiftSettings: swiftSettings),
        // A ChangeStream consumer the torture test kills and restarts (no product).
        .executableTarget(
            name: "pgrepl-torture-consumer",
            dependencies: [
                "PGReplication", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Tools/TortureConsumer",
            swiftSettings: swiftSettings
        ),
        // A throwaway cluster for the shell scripts (benchmarks, fixture captures): no product.
        .executableTarget(
            name: "pgrepl-throwaway",
            dependencies: ["PGLocalCluster"],
            path: "Tests/Tools/Throwaway",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PGOutputTests",
            dependencies: ["PGOutput"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PGReplicationCoreTests",
            dependencies: ["PGReplicationCore", "PGOutput"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PGReplicationTests",
            dependencies: ["PGReplication", "PGOutput"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PGReplicationIntegrationTests",
            dependencies: [
                "PGReplication", "PGOutput", "PGLocalCluster", "PGReplCLI", "pgrepl", "pgrepl-torture-consumer",
                "PGSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "PGLocalClusterTests", dependencies: ["PGLocalCluster"], swiftSettings: swiftSettings),
        // The CLI's pieces that need no server.
        .testTarget(
            name: "PGReplCLITests",
            dependencies: ["PGReplCLI", "PGReplication", "PGOutput", "PGLocalCluster"],
            swiftSettings: swiftSettings
        ),
    ]
)

// DocC, only when asked for (`PGREPL_DOCC=1 swift package generate-documentation …`), so the
// ordinary build resolves no documentation tooling.
if ProcessInfo.processInfo.environment["PGREPL_DOCC"] != nil {
    package.dependencies.append(.package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"))
}
