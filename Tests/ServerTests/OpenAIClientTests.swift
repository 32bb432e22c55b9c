import Foundation
import Server
import TestSupport
import Testing

/// The official `openai` Python client (in `.venv`, made by `scripts/python-env`) drives a live server on the
/// real SmolLM2-135M-Instruct: chat and completions, streamed and whole, `n`, logprobs, stop strings, seeds,
/// every error status, and client disconnects (Python/test_openai_client.py); structured outputs through
/// `response_format`, `structured_outputs` and the `guided_*` fields, and their errors
/// (Python/test_structured_outputs.py).
@Suite(.tags(.realModel), .needsRealModels) struct OpenAIClientTests {
    @Test func officialClientSuite() async throws {
        let (setup, setupOutput) = try await Subprocess.run(
            "/bin/bash",
            [Subprocess.root.appendingPathComponent("scripts/python-env").path]
        )
        try #require(setup == 0, "scripts/python-env failed: \(setupOutput)")
        var configuration = ServerConfiguration()
        configuration.apiKey = "sk-pika"
        configuration.maxRequestBodyBytes = 1 << 20
        let server = try await TestServer.start(configuration, load: TestServer.smollm2())
        defer { Task { await server.stop() } }
        let (status, output) = try await Subprocess.run(
            Subprocess.root.appendingPathComponent(".venv/bin/python").path,
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
