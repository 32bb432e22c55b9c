import Foundation
import Server
import Testing

/// The official `openai` Python client (in `.venv`, made by `scripts/python-env`) drives a live server on the
/// real SmolLM2-135M-Instruct: chat and completions, streamed and whole, `n`, logprobs, stop strings, seeds,
/// every error status, and client disconnects (Python/test_openai_client.py); structured outputs through
/// `response_format`, `structured_outputs` and the `guided_*` fields, and their errors
/// (Python/test_structured_outputs.py).
@Suite struct OpenAIClientTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Runs `executable` with `arguments`; returns its exit status and combined output.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:]
    ) throws -> (
        Int32, String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = root
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    @Test func officialClientSuite() async throws {
        let (setup, setupOutput) = try Self.run(
            "/bin/bash",
            [Self.root.appendingPathComponent("scripts/python-env").path]
        )
        try #require(setup == 0, "scripts/python-env failed: \(setupOutput)")
        var configuration = ServerConfiguration()
        configuration.apiKey = "sk-pika"
        configuration.maxRequestBodyBytes = 1 << 20
        let server = try await TestServer.start(configuration, load: TestServer.smollm2())
        defer { Task { await server.stop() } }
        let (status, output) = try Self.run(
            Self.root.appendingPathComponent(".venv/bin/python").path,
            [
                "-m", "unittest", "-v", "Tests/ServerTests/Python/test_openai_client.py",
                "Tests/ServerTests/Python/test_structured_outputs.py",
            ],
            environment: [
                "SWERVE_BASE_URL": server.base, "SWERVE_API_KEY": "sk-pika",
                "SWERVE_BODY_LIMIT": "\(configuration.maxRequestBodyBytes)",
            ]
        )
        #expect(status == 0, "\(output)")
    }
}
