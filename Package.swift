// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "bertcheck",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "BertCheck", targets: ["BertCheck"]),
        .library(name: "BertCheckRendering", targets: ["BertCheckRendering"]),
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
        // The forward pass's arithmetic: matrix products, LayerNorm, softmax, activations, the
        // worker pool. AVX2/FMA per function (target attributes), checked at run time, with a
        // portable form beside each; the package itself builds for the baseline CPU. No unsafe flags
        // (SwiftPM refuses them in a versioned dependency): the project's scripts pass `-Xcc -O3`
        // so the debug test suite does not run unoptimised kernels (Scripts/test.sh).
        .target(name: "CKernels", path: "Sources/CKernels"),
        // Plain Swift with the default flags: the readers of untrusted files keep their checks.
        .target(name: "BertCheck", dependencies: ["CZlib", "COpenBLAS", "CKernels"]),
        // Tables, JSON, JUnit and torch-style printing of the values BertCheck computes.
        .target(name: "BertCheckRendering", dependencies: ["BertCheck"]),
        .executableTarget(
            name: "bertcheck",
            dependencies: ["BertCheck", "BertCheckRendering", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The kernels against their references (Tests/KernelTests).
        .testTarget(name: "KernelTests", dependencies: ["BertCheck", "CKernels"]),
        .testTarget(
            name: "BertCheckTests",
            dependencies: ["BertCheck", "BertCheckRendering"],
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
