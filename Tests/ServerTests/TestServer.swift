import AsyncHTTPClient
import CPUBackend
import Engine
import Foundation
import KVEvents
import Models
import NIOCore
import NIOHTTP1
import Server
import TestSupport
import Tokenizers

/// A live server in the test process (`RunningServer`, assembled as `swerve serve` assembles it), with
/// helpers to send requests and read their JSON.
struct TestServer: Sendable {
    let running: RunningServer

    var base: String { running.baseURL }
    var host: ModelHost { running.host }

    /// Starts a server; waits until the model is loaded unless `waitUntilReady` is false.
    static func start(
        _ configuration: ServerConfiguration = ServerConfiguration(),
        waitUntilReady: Bool = true,
        load: @escaping @Sendable () async throws -> ServedModel
    ) async throws -> TestServer {
        var configuration = configuration
        // HTTPClient.shared keeps idle connections 60 s; a server closing them after 5 s races with their
        // reuse (a POST sent as the close arrives fails), and in CI, where timers run late, it happens.
        if configuration.limits == ConnectionLimits() {
            configuration.limits.keepAliveTimeout = .seconds(300)
            configuration.limits.headerTimeout = .seconds(300)
        }
        let server = TestServer(running: await RunningServer.start(configuration, load: load))
        if waitUntilReady { try await server.waitUntilReady() }
        return server
    }

    func stop() async { await running.stop() }

    /// Waits (up to two minutes) for `/health` to say the model is loaded.
    func waitUntilReady() async throws {
        for _ in 0..<1200 {
            if try await send(.GET, "/health").status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CancellationError()
    }

    /// Sends a request; returns the status and body.
    func send(
        _ method: HTTPMethod = .POST,
        _ path: String,
        body: String? = nil,
        headers: [(String, String)] = [("content-type", "application/json")]
    ) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    /// The JSON object of a response body.
    static func json(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    /// A synthetic llama (vocabulary of letter pieces, or with `characters` of single characters and JSON
    /// pieces; a one-line chat template) served as `tiny`.
    static func synthetic(
        maxModelLen: Int = 256,
        root: String = "synthetic",
        maxNumSeqs: Int = 16,
        maxWaitingRequests: Int? = nil,
        characters: Bool = false,
        speculative: SpeculativeConfig? = nil,
        generationDefaults: GenerationDefaults = GenerationDefaults()
    ) -> @Sendable () async throws -> ServedModel {
        {
            let gguf = try SyntheticModel.llama()
            let config = try ModelRegistry.config(of: gguf)
            let tokenizer: any Tokenizer =
                characters
                ? ByteTokenizer(vocabularySize: config.vocabularySize)
                : LetterTokenizer(vocabularySize: config.vocabularySize)
            let core = try EngineCore(
                gguf: gguf,
                tokenizer: tokenizer,
                backend: CPUBackend(threads: 2),
                configuration: EngineConfiguration(
                    maxModelLen: maxModelLen,
                    maxNumSeqs: maxNumSeqs,
                    kvCacheMemory: 8 << 20,
                    maxWaitingRequests: maxWaitingRequests,
                    speculative: speculative
                )
            )
            let template = try ChatTemplate("{% for m in messages %}{{ m['content'] }} {% endfor %}")
            return ServedModel(
                engine: Engine(core: core),
                prompts: PromptEncoder(tokenizer: tokenizer, chatTemplate: template),
                names: ["tiny"],
                root: root,
                generationDefaults: generationDefaults
            )
        }
    }

    /// The real SmolLM2-135M-Instruct, fetched through the model store, served as vLLM would name it.
    /// SmolLM2 with a KV pool of `kvCacheMemory` bytes; with `kvEvents`, publishing its KV-cache events.
    static func smollm2(
        kvCacheMemory: Int = 512 << 20,
        kvEvents: KVEventsConfig? = nil
    ) -> @Sendable () async throws -> ServedModel {
        {
            let path = try await TestModels.smollm2()
            let file = try ModelFile(path: path)
            let core = try EngineCore(
                model: file,
                backend: CPUBackend(threads: 2),
                configuration: EngineConfiguration(maxModelLen: 2048, kvCacheMemory: kvCacheMemory)
            )
            let publisher = try kvEvents.map { try ZMQEventPublisher($0) }
            core.kvEvents = publisher
            return ServedModel(
                engine: Engine(core: core),
                prompts: file.prompts,
                names: ["HuggingFaceTB/SmolLM2-135M-Instruct"],
                aliases: ["smollm2-135m"],
                root: path,
                kvEvents: publisher
            )
        }
    }
}
