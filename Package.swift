// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "BindKit",
    products: [
        .library(name: "BindKit", targets: ["BindKit"]),
        .library(name: "BindRules", targets: ["BindRules"]),
        .library(name: "BindConformance", targets: ["BindConformance"]),
        .executable(name: "bindcheck", targets: ["bindcheck"]),
        .executable(name: "bindbench", targets: ["bindbench"]),
        // The SwiftNIO bridge. Empty unless the NIO trait is on; only then is swift-nio fetched.
        .library(name: "BindKitNIO", targets: ["BindKitNIO"]),
    ],
    traits: [
        .trait(name: "NIO", description: "BindKitNIO: SocketAddress conversions, bind pre-flight and bind errors explained for SwiftNIO")
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // libcap as SwiftPM knows system libraries: its flags from pkg-config (libcap.pc), and a
        // hint to `apt-get install libcap-dev` for a package that builds BindKit without it.
        .systemLibrary(name: "CLibcap", path: "Sources/CLibcap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .target(
            name: "CBindShim",
            dependencies: ["CLibcap"],
            path: "CShim",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(
            name: "BindKit",
            dependencies: ["CBindShim", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .target(name: "BindRules", dependencies: ["BindKit"]),
        .target(
            name: "BindConformance", dependencies: ["BindRules", "BindKit"],
            resources: [.embedInCode("Reports/Resources/matrix.css"), .embedInCode("Reports/Resources/matrix.js")]),
        .target(
            name: "BindKitNIO",
            dependencies: [
                "BindKit", "BindRules",
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["NIO"])),
                .product(name: "NIOPosix", package: "swift-nio", condition: .when(traits: ["NIO"])),
            ]
        ),
        .executableTarget(
            name: "bindcheck",
            dependencies: ["BindConformance", "BindRules", "BindKit", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The C baselines of bindbench: linked by bindbench alone, never by the library.
        .target(name: "CBindBench", dependencies: ["CBindShim"], cSettings: [.define("_GNU_SOURCE")]),
        .executableTarget(name: "bindbench", dependencies: ["BindConformance", "BindRules", "BindKit", "CBindShim", "CBindBench"]),
        // What every test suite shares: the leak check.
        .target(name: "BindTestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "BindKitTests",
            dependencies: ["BindKit", "CBindShim", "BindTestSupport", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "BindRulesTests",
            dependencies: ["BindRules", "BindTestSupport", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "BindConformanceTests",
            dependencies: ["BindConformance", "BindTestSupport", .product(name: "PropertyBased", package: "swift-property-based")],
            resources: []
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The seeds' stories as programs a person runs: Examples/NAME/main.swift, each run by
// Tests/BindConformanceTests/ExamplesTests.swift in a private network namespace.
// (Examples/NIOServer is a package of its own: it turns on the NIO trait.)
let examples = [
    "TCPServer", "UDPServer", "ReusePortListeners", "LoopbackAndWildcard", "DualStack", "BindBeforeConnect", "MulticastReceiver",
    "FreePort",
]
package.targets += examples.map { .executableTarget(name: $0, dependencies: ["BindKit"], path: "Examples/\($0)") }
