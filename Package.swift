// swift-tools-version: 6.0
import PackageDescription

/// Every target keeps Swift's bounds and overflow checks in release: the request JSON reader, the grammar
/// compilers, the chat-template interpreter, the tokenizer and the GGUF parser all read untrusted input, and
/// a bug there must trap, not corrupt memory. Cross-module optimization lets the checked modules inline
/// what they call.
let checked: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))
]

/// Modules where a step spends its time (the engine, the grammar's token masks, the model's forward pass)
/// are optimized in debug builds too: at -Onone, dequantizing and running a real model in the integration
/// tests takes minutes instead of seconds. They keep their checks.
let numeric: [SwiftSetting] = checked + [.unsafeFlags(["-O"], .when(configuration: .debug))]

/// Only the backends' arithmetic drops the checks (`-Ounchecked`): its loops index packed weights, KV
/// pages and scratch buffers whose shapes are validated once, at load, before any of them runs.
let hotPath: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-cross-module-optimization"], .when(configuration: .release)),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "Swerve",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "swerve", targets: ["SwerveCLI"]),
        .library(name: "SwerveCore", targets: ["SwerveCore"]),
        .library(name: "GGUF", targets: ["GGUF"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "ModelStore", targets: ["ModelStore"]),
        .library(name: "CPUBackend", targets: ["CPUBackend"]),
        .library(name: "Grammar", targets: ["Grammar"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "KVEvents", targets: ["KVEvents"]),
        .library(name: "OpenAIAPI", targets: ["OpenAIAPI"]),
        .library(name: "Server", targets: ["Server"]),
        .library(name: "Bench", targets: ["Bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.24.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", .upToNextMinor(from: "0.9.19")),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
    ],
    targets: [
        .target(name: "SwerveCore", swiftSettings: numeric),
        .target(name: "GGUF", dependencies: ["SwerveCore"], swiftSettings: checked),
        .target(name: "Tokenizers", dependencies: ["SwerveCore", "GGUF"], swiftSettings: checked),
        .target(name: "Models", dependencies: ["SwerveCore", "GGUF", "Tokenizers"], swiftSettings: numeric),
        .target(name: "ReferenceBackend", dependencies: ["SwerveCore"], swiftSettings: hotPath),
        // Kernels are optimized in every configuration: unoptimized SIMD code is slower than scalar.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        .target(name: "CPUBackend", dependencies: ["SwerveCore", "CKernels"], swiftSettings: hotPath),
        // Structured output: constraints (JSON Schema, regex, choice, EBNF) to byte grammars and token masks.
        .target(name: "Grammar", dependencies: ["SwerveCore"], swiftSettings: numeric),
        .target(
            name: "Engine",
            dependencies: [
                "SwerveCore", "GGUF", "Tokenizers", "Models", "Grammar",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"],
            swiftSettings: numeric
        ),
        // The only C besides the kernels: libzmq's few calls, resolved with dlopen so libzmq stays optional.
        .target(name: "CZeroMQ", linkerSettings: [.linkedLibrary("dl")]),
        // vLLM's KV-cache events on ZMQ (MessagePack batches, replay), for KV-aware routers.
        .target(name: "KVEvents", dependencies: ["SwerveCore", "CZeroMQ"], swiftSettings: checked),
        .target(name: "OpenAIAPI", swiftSettings: checked),
        .target(
            name: "Server",
            dependencies: [
                "Engine", "Grammar", "KVEvents", "Models", "OpenAIAPI", "SwerveCore", "Tokenizers",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: checked
        ),
        .target(
            name: "Bench",
            dependencies: [
                "Engine", "GGUF", "Grammar", "Models", "OpenAIAPI", "Server", "SwerveCore", "Tokenizers",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: checked
        ),
        .target(
            name: "ModelStore",
            dependencies: [
                "SwerveCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            swiftSettings: checked
        ),
        .executableTarget(
            name: "SwerveCLI",
            dependencies: [
                "SwerveCore", "GGUF", "Tokenizers", "Models", "ModelStore", "CPUBackend", "Engine", "Bench", "Server",
                "Grammar", "KVEvents",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: checked
        ),
        .target(
            name: "TestSupport",
            dependencies: ["SwerveCore", "GGUF", "Models", "ModelStore", "Tokenizers"],
            path: "Tests/TestSupport",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "SwerveCoreTests",
            dependencies: ["SwerveCore", "GGUF", "TestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "KVEventsTests", dependencies: ["KVEvents", "CZeroMQ", "SwerveCore"]),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "SwerveCore", "TestSupport"]),
        .testTarget(name: "GrammarTests", dependencies: ["Grammar", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "SwerveCore", "TestSupport"]),
        .testTarget(
            name: "ReferenceBackendTests",
            dependencies: ["ReferenceBackend", "GGUF", "Models", "Tokenizers", "TestSupport"]
        ),
        .testTarget(
            name: "CPUBackendTests",
            dependencies: [
                "CPUBackend", "CKernels", "ReferenceBackend", "SwerveCore", "GGUF", "Models", "TestSupport",
                "AllocationCounter",
            ]
        ),
        .testTarget(
            name: "EngineTests",
            dependencies: [
                "Engine", "Bench", "CPUBackend", "GGUF", "Grammar", "Models", "ReferenceBackend", "SwerveCore",
                "Tokenizers", "TestSupport", "AllocationCounter",
            ]
        ),
        // Test instrumentation: counts heap allocations (interposes malloc) for the no-allocation check.
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        .testTarget(
            name: "TokenizersTests",
            dependencies: ["Tokenizers", "GGUF", "TestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Engine", "KVEvents", "Models", "CPUBackend", "Tokenizers", "TestSupport", "Bench",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ModelsTests",
            dependencies: ["Models", "GGUF", "ReferenceBackend", "SwerveCore", "Tokenizers", "TestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "ModelStoreTests",
            dependencies: [
                "ModelStore", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
    ]
)

/// `scripts/fuzz` builds with `SWERVE_FUZZ=1`: then the libFuzzer harnesses (an executable that calls
/// libFuzzer's driver, so it links only with `-sanitize=fuzzer`) join the package. Ordinary builds never see it.
if Context.environment["SWERVE_FUZZ"] == "1" {
    package.targets.append(
        .executableTarget(
            name: "SwerveFuzz",
            dependencies: ["SwerveCore", "GGUF", "Grammar", "Models", "Tokenizers", "OpenAIAPI", "Server"]
        )
    )
    package.products.append(.executable(name: "swerve-fuzz", targets: ["SwerveFuzz"]))
}
