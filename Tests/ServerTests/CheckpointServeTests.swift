import AsyncHTTPClient
import Bench
import Foundation
import NIOCore
import TestSupport
import Testing

/// `swerve serve --model DIR` (the real binary) on SmolLM2's float16 checkpoint, its weights kept in
/// float16 (`--dtype float16`) and quantized on load (`--quantization q8_0`): it answers the seed's
/// structured request over HTTP with schema-valid JSON.
@Suite(.serialized, .tags(.realModel), .needsRealModels) struct CheckpointServeTests {
    @Test(arguments: [["--dtype", "float16"], ["--quantization", "q8_0"]])
    func swerveServeAnswersTheSeedsRequestFromTheCheckpoint(flags: [String]) async throws {
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        let checkpoint = try await TestModels.smollm2Checkpoint()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("swerve-serve-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: swerve)
        process.arguments =
            [
                "serve", "--model", checkpoint, "--port", "0", "--threads", "2", "--max-model-len", "1024",
                "--served-model-name", "HuggingFaceTB/SmolLM2-135M-Instruct",
            ] + flags
        let output = try FileHandle(forWritingTo: log)
        (process.standardOutput, process.standardError) = (output, output)
        try process.run()
        defer { process.terminate() }
        func logText() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        // The port the server bound: "listening on [IPv4]127.0.0.1/127.0.0.1:PORT".
        var port: Int?
        for _ in 0..<1200 where port == nil && process.isRunning {
            if let line = logText().split(separator: "\n").first(where: { $0.contains("listening on") }) {
                port = line.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            }
            if port == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let base = "http://127.0.0.1:\(try #require(port, "no port in the log: \(logText())"))"
        func send(_ path: String, _ body: String? = nil) async throws -> (Int, String) {
            var request = HTTPClientRequest(url: base + path)
            if let body {
                request.method = .POST
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
            return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }
        var healthy = false
        for _ in 0..<1200 where !healthy && process.isRunning {
            healthy = (try? await send("/health").0) == 200
            if !healthy { try await Task.sleep(for: .milliseconds(100)) }
        }
        try #require(healthy, "the model never loaded: \(logText())")
        let schema = try JSONSerialization.jsonObject(with: Data(PikaWorkload.responseSchema.utf8))
        let request: [String: Any] = [
            "model": "HuggingFaceTB/SmolLM2-135M-Instruct", "temperature": 0, "max_tokens": 50,
            "messages": [
                ["role": "system", "content": PikaWorkload.systemPrompt],
                ["role": "user", "content": PikaWorkload.userTurn(0)],
            ],
            "response_format": ["type": "json_schema", "json_schema": ["name": "pika", "schema": schema]],
        ]
        let body = String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
        let (status, text) = try await send("/v1/chat/completions", body)
        #expect(status == 200, "\(text)")
        let response = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        let choice = (response?["choices"] as? [[String: Any]])?.first
        let content = (choice?["message"] as? [String: Any])?["content"] as? String ?? ""
        let answer = try JSONSerialization.jsonObject(with: Data(content.utf8)) as? [String: Any]
        #expect(PikaWorkload.emotions.contains(answer?["emotion"] as? String ?? ""), "\(content)")
        #expect(answer?["learn_score"] is Bool, "\(content)")
        #expect(choice?["finish_reason"] as? String == "stop", "\(text)")
        if flags == ["--dtype", "float16"] { #expect(logText().contains("held as float16"), "\(logText())") }
    }
}
