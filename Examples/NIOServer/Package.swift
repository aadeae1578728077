// swift-tools-version: 6.1
// A SwiftNIO server that asks BindKit before it binds, and explains a failed bind: the package a
// NIO user writes, with BindKit's NIO trait on. scripts/check-dependents.sh builds and tests a
// copy of it in a scratch directory.
import PackageDescription

let package = Package(
    name: "NIOServer",
    dependencies: [
        .package(name: "BindKit", path: "../..", traits: ["NIO"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "NIOServer",
            dependencies: [
                .product(name: "BindKitNIO", package: "BindKit"), .product(name: "BindKit", package: "BindKit"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "NIOServerTests", dependencies: ["NIOServer"]),
    ],
    swiftLanguageModes: [.v6]
)
