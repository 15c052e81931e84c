// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "swift-pg-replication",
    products: [
        .library(name: "PGReplication", targets: ["PGReplication"]),
        .library(name: "PGOutput", targets: ["PGOutput"]),
        .library(name: "_PGLocalCluster", targets: ["PGLocalCluster"]),
        .executable(name: "pgrepl", targets: ["pgrepl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            path: "Modules/CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        .target(name: "PGOutput", swiftSettings: swiftSettings),
        .target(name: "PGLock", swiftSettings: swiftSettings),
        .target(
            name: "PGReplication",
            dependencies: [
                "CLibPQ", "PGOutput", "PGLock",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PGLocalCluster",
            dependencies: ["PGLock", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PGReplCLI",
            dependencies: [
                "PGReplication", "PGOutput", "PGLocalCluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "pgrepl", dependencies: ["PGReplCLI"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PGOutputTests",
            dependencies: ["PGOutput"],
            resources: [.copy("Fixtures")],
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
                "PGReplication", "PGOutput", "PGLocalCluster", "PGReplCLI", "pgrepl", "PGLock",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "PGLocalClusterTests", dependencies: ["PGLocalCluster"], swiftSettings: swiftSettings),
    ]
)
