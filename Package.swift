// swift-tools-version:6.0
import PackageDescription

// AVX2 + FMA code generation for the hand-written SIMD kernels (the CI and developer machines
// have both; see Docs/performance.md).
let simdFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "bertcheck",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "BertCheck", targets: ["BertCheck"]),
        .executable(name: "bertcheck", targets: ["bertcheck"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // zlib, for deflated zip entries (PyTorch .bin, numpy savez_compressed). Debian: zlib1g-dev.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // OpenBLAS sgemm for the forward pass. Debian: libopenblas-dev.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        // The forward pass's matrix-product kernel (AVX2/FMA, checked at run time). -O3 in every
        // configuration: an unoptimised kernel would make the debug test suite crawl.
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(
            name: "BertCheck",
            dependencies: ["CZlib", "COpenBLAS", "CKernels"],
            swiftSettings: simdFlags
        ),
        .executableTarget(
            name: "bertcheck",
            dependencies: ["BertCheck", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "BertCheckTests",
            dependencies: ["BertCheck", "CKernels"],
            resources: [.copy("Fixtures")]
        ),
        // Uses only the public API (no @testable): how another package's tests gate a model.
        .testTarget(
            name: "PublicAPITests",
            dependencies: ["BertCheck"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
