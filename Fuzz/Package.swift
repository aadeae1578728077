// swift-tools-version: 6.1
// The fuzz targets: one executable per input surface, each a libFuzzer entry point
// (LLVMFuzzerTestOneInput) with no main of its own. Build and run them all with
// ./run-all.sh; see the script for the flags.
import PackageDescription

let package = Package(
    name: "BindKitFuzz",
    dependencies: [
        .package(name: "BindKit", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "FuzzAddresses",
            dependencies: [.product(name: "BindKit", package: "BindKit")]
        ),
        .executableTarget(name: "FuzzSockaddr", dependencies: [.product(name: "BindKit", package: "BindKit")]),
        .executableTarget(name: "FuzzProcNet", dependencies: [.product(name: "BindKit", package: "BindKit")]),
        .executableTarget(name: "FuzzDiag", dependencies: [.product(name: "BindKit", package: "BindKit")]),
        .executableTarget(name: "FuzzSysctl", dependencies: [.product(name: "BindKit", package: "BindKit")]),
        .executableTarget(
            name: "FuzzScenario",
            dependencies: [.product(name: "BindConformance", package: "BindKit"), .product(name: "BindRules", package: "BindKit")]
        ),
        .executableTarget(name: "FuzzJSON", dependencies: [.product(name: "BindConformance", package: "BindKit")]),
        .executableTarget(name: "FuzzReport", dependencies: [.product(name: "BindConformance", package: "BindKit")]),
    ],
    swiftLanguageModes: [.v6]
)
