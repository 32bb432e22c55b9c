import Engine
import Foundation
import Server
import Testing

/// Every client mistake gets OpenAI's error shape with the right status and a message naming the field;
/// the server says 503 while the model loads and 401 without the key; vLLM flags that cannot take effect are
/// refused with a reason.
@Suite struct ServerErrorTests {
    static func error(_ body: String) throws -> (message: String, type: String, param: String?) {
        let error = try TestServer.json(body)["error"] as? [String: Any] ?? [:]
        #expect(error.keys.sorted() == ["code", "message", "param", "type"], "OpenAI's error shape: \(body)")
        return (error["message"] as? String ?? "", error["type"] as? String ?? "", error["param"] as? String)
    }

    @Test func clientMistakesAre400sThatNameTheField() async throws {
        var configuration = ServerConfiguration()
        configuration.maxRequestBodyBytes = 4096
        let server = try await TestServer.start(configuration, load: TestServer.synthetic(maxModelLen: 64))
        defer { Task { await server.stop() } }
        let chat = "/v1/chat/completions"
        let cases: [(String, String, Int, String?, String)] = [
            (chat, "{not json", 400, nil, "not valid JSON"),
            (chat, "{}", 400, "messages", "missing required field 'messages'"),
            (chat, #"{"messages": "hi"}"#, 400, "messages", "invalid type"),
            (chat, #"{"messages": []}"#, 400, "messages", "must not be empty"),
            (
                chat, #"{"messages": [{"role":"user","content":"a"}], "temperature": -1}"#, 400, "temperature",
                "temperature"
            ),
            (chat, #"{"messages": [{"role":"user","content":"a"}], "top_p": 1.5}"#, 400, "top_p", "top_p"),
            (chat, #"{"messages": [{"role":"user","content":"a"}], "n": 0}"#, 400, "n", "n must be"),
            (
                chat, #"{"messages": [{"role":"user","content":"a"}], "max_tokens": -3}"#, 400, "max_tokens",
                "max_tokens"
            ),
            (
                chat, #"{"messages": [{"role":"user","content":"a"}], "max_tokens": 100}"#, 400, "max_tokens",
                "64 tokens"
            ),
            (
                chat, #"{"messages": [{"role":"user","content":"a"}], "top_logprobs": 2}"#, 400, "top_logprobs",
                "logprobs"
            ),
            (
                chat, #"{"messages": [{"role":"user","content":[{"type":"image_url"}]}]}"#, 400, "messages[0].content",
                "text only"
            ),
            (chat, #"{"model": "gpt-4", "messages": [{"role":"user","content":"a"}]}"#, 404, "model", "does not exist"),
            ("/v1/completions", #"{"prompt": ""}"#, 400, "prompt", "must not be empty"),
            ("/v1/completions", #"{"prompt": "a", "logit_bias": {"x": 1}}"#, 400, "logit_bias", "token ids"),
            ("/v1/completions", #"{"prompt": [1, 2], "logprobs": 50}"#, 400, "logprobs", "logprobs"),
            ("/v1/completions", #"{"prompt": "a", "max_tokens": 70}"#, 400, "max_tokens", "requested 71 tokens (1 in"),
            // Numbers as large as JSON allows are range-checked before any arithmetic (a checked build traps on
            // overflow: this crashed the server once).
            (
                "/v1/completions", #"{"prompt": "a", "max_tokens": 9223372036854775807}"#, 400, "max_tokens",
                "requested 9223372036854775808 tokens (1 in"
            ),
            (
                chat, #"{"messages": [{"role":"user","content":"a"}], "max_tokens": 9223372036854775797}"#, 400,
                "max_tokens", "maximum context length"
            ),
            ("/v1/completions", #"{"prompt": "a", "max_tokens": 2, "n": 9223372036854775807}"#, 400, "n", "[1, 128]"),
            (
                "/v1/completions", #"{"prompt": "a", "max_tokens": 2, "min_tokens": 9223372036854775807}"#, 400,
                "min_tokens", "min_tokens must be"
            ),
            ("/v1/completions", #"{"prompt": "a", "logprobs": 9223372036854775807}"#, 400, "logprobs", "logprobs"),
            (
                "/v1/completions",
                #"{"prompt": "a", "stop": ["# + Array(repeating: #""x""#, count: 65).joined(separator: ",") + "]}",
                400, "stop", "at most 64 strings"
            ),
            (
                "/v1/completions", #"{"prompt": "a", "stop": [""# + String(repeating: "x", count: 1025) + #""]}"#, 400,
                "stop",
                "at most 1024 bytes"
            ),
            ("/v1/nowhere", "{}", 404, nil, "no route"),
            ("/detokenize", #"{"tokens": [100000]}"#, 400, "tokens", "not in the vocabulary"),
            (chat, String(repeating: " ", count: 5000), 413, nil, "larger than"),
        ]
        for (path, body, status, param, message) in cases {
            let response = try await server.send(.POST, path, body: body)
            #expect(response.status == status, "\(path) \(body.prefix(80)): \(response.body)")
            let error = try Self.error(response.body)
            #expect(error.param == param, "\(body.prefix(80))")
            #expect(error.message.contains(message), "\(body.prefix(80)): \(error.message)")
        }
    }

    /// A prompt that cannot fit in `--max-model-len` whatever it encodes to is refused from its length alone
    /// ("at least", not the exact count a full tokenization would give); `/tokenize` still counts every token.
    @Test func promptsFarPastTheContextAreRefusedBeforeTokenizing() async throws {
        let server = try await TestServer.start(load: TestServer.synthetic(maxModelLen: 256, characters: true))
        defer { Task { await server.stop() } }
        let text = String(repeating: "ab", count: 1 << 20)
        for (path, body, param) in [
            ("/v1/completions", #"{"prompt": ""# + text + #"", "max_tokens": 2}"#, "prompt"),
            ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": ""# + text + #""}]}"#, "messages"),
        ] {
            let response = try await server.send(.POST, path, body: body)
            #expect(response.status == 400, "\(path): \(response.body.prefix(300))")
            let error = try Self.error(response.body)
            #expect(error.param == param)
            #expect(error.message.contains("has at least 419431 tokens (209715"), "\(error.message)")
        }
        // Within the bound a prompt is tokenized and its exact count reported.
        let counted = try await server.send(
            .POST,
            "/v1/completions",
            body: #"{"prompt": ""# + String(repeating: "a", count: 1000) + #""}"#
        )
        #expect(try Self.error(counted.body).message.contains("has 1000 tokens"), "\(counted.body.prefix(300))")
        // /tokenize has no bound: a long text is tokenized whole, off the cooperative pool.
        let long = String(repeating: "a", count: 40_000)
        let tokenized = try await server.send(.POST, "/tokenize", body: #"{"prompt": ""# + long + #""}"#)
        #expect(tokenized.status == 200)
        #expect(try TestServer.json(tokenized.body)["count"] as? Int == 40_000, "\(tokenized.body.suffix(100))")
    }

    /// Single requests that once crashed the server for everyone (stack exhaustion in a parser, a regex the
    /// validator read in another dialect): 400s naming the limit, or answers.
    @Test func requestsBuiltToCrashTheServerAreRefusedOrAnswered() async throws {
        let server = try await TestServer.start(load: TestServer.synthetic())
        defer { Task { await server.stop() } }
        func body(_ fields: String) -> String {
            #"{"prompt": "ab", "max_tokens": 6, "temperature": 0, "# + fields + "}"
        }
        func quoted(_ text: String) -> String {
            String(decoding: try! JSONSerialization.data(withJSONObject: [text], options: []), as: UTF8.self)
                .dropFirst().dropLast().description
        }
        let deepRegex = String(repeating: "(", count: 100_000) + "a" + String(repeating: ")", count: 100_000)
        let deepGrammar =
            "root ::= " + String(repeating: "(", count: 30_000) + "\"a\"" + String(repeating: ")", count: 30_000)
        let refused: [(String, String)] = [
            (body(#""structured_outputs": {"regex": "# + quoted(deepRegex) + "}"), "nested deeper than"),
            (body(#""guided_grammar": "# + quoted(deepGrammar)), "nested deeper than"),
            (body(#""guided_regex": "# + quoted("a" + String(repeating: "*", count: 100_000))), "multiple repeat"),
            (body(#""guided_json": "# + String(repeating: "[", count: 100_000)), "not valid JSON"),
        ]
        for (request, message) in refused {
            let response = try await server.send(.POST, "/v1/completions", body: request)
            #expect(response.status == 400, "\(request.prefix(60)): \(response.body.prefix(200))")
            #expect(try Self.error(response.body).message.contains(message), "\(response.body.prefix(300))")
        }
        // The synthetic vocabulary's tokens are letters and a space ("a ", "ab ", ...).
        for pattern in [
            String(repeating: "(", count: 99) + "a " + String(repeating: ")", count: 99), "(a ){,3}", "(ab ){1,2}",
            "([a-z] ){2}",
        ] {
            let response = try await server.send(
                .POST,
                "/v1/completions",
                body: body(#""guided_regex": "# + quoted(pattern))
            )
            #expect(response.status == 200, "\(pattern.prefix(20)): \(response.body.prefix(300))")
        }
        // A valid regex no token can begin: refused up front, not a 500 after generating.
        let impossible = try await server.send(.POST, "/v1/completions", body: body(#""guided_regex": "x{2}""#))
        #expect(impossible.status == 400, "\(impossible.body)")
        #expect(try Self.error(impossible.body).message.contains("no token of the model's vocabulary"))
        #expect(try await server.send(.GET, "/health").status == 200)
    }

    @Test func apiKeyGuardsV1Routes() async throws {
        var configuration = ServerConfiguration()
        configuration.apiKey = "sk-swerve"
        let server = try await TestServer.start(configuration, load: TestServer.synthetic())
        defer { Task { await server.stop() } }
        let body = #"{"prompt": "a", "max_tokens": 2}"#
        let missing = try await server.send(.POST, "/v1/completions", body: body)
        #expect(missing.status == 401)
        #expect(try Self.error(missing.body).type == "authentication_error")
        let wrong = try await server.send(
            .POST,
            "/v1/completions",
            body: body,
            headers: [("authorization", "Bearer nope")]
        )
        #expect(wrong.status == 401)
        let right = try await server.send(
            .POST,
            "/v1/completions",
            body: body,
            headers: [("authorization", "Bearer sk-swerve"), ("content-type", "application/json")]
        )
        #expect(right.status == 200, "\(right.body)")
        #expect(try await server.send(.GET, "/health").status == 200)
    }

    @Test func answers503UntilTheModelIsLoaded() async throws {
        let (gate, open) = AsyncStream<Void>.makeStream()
        let load = TestServer.synthetic()
        let server = try await TestServer.start(waitUntilReady: false) {
            var iterator = gate.makeAsyncIterator()
            await iterator.next()
            return try await load()
        }
        defer { Task { await server.stop() } }
        for path in ["/health", "/v1/models"] {
            let response = try await server.send(.GET, path)
            #expect(response.status == 503, "\(path)")
            #expect(try Self.error(response.body).message.contains("loading"))
        }
        let early = try await server.send(.POST, "/v1/completions", body: #"{"prompt": "a"}"#)
        #expect(early.status == 503)
        open.finish()
        var status = 0
        for _ in 0..<200 where status != 200 {
            status = try await server.send(.GET, "/health").status
            if status != 200 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(status == 200)
        let models = try TestServer.json(try await server.send(.GET, "/v1/models").body)
        let data = models["data"] as? [[String: Any]] ?? []
        #expect(data.first?["id"] as? String == "tiny")
        #expect(data.first?["max_model_len"] as? Int == 256)
    }

    @Test func flagsThatCannotTakeEffectAreRefused() throws {
        #expect(throws: EngineError.self) { try VLLMFlags(tensorParallelSize: 2).check() }
        #expect(throws: EngineError.self) { try VLLMFlags(quantization: "awq").check() }
        #expect(throws: EngineError.self) { try VLLMFlags(dtype: "int3").check() }
        do {
            _ = try VLLMFlags(tensorParallelSize: 2).check()
        } catch {
            #expect("\(error)".contains("tensor parallelism"))
        }
        #expect(try VLLMFlags().check().isEmpty)
        #expect(try VLLMFlags(quantization: "gguf").check().isEmpty)
        #expect(try VLLMFlags(quantization: "q8_0").check().isEmpty)
        #expect(try VLLMFlags(quantization: "q4_0").check().isEmpty)
        #expect(
            throws: EngineError.configuration(
                "--quantization fp8 cannot take effect: fp8 weights need a GPU's fp8 matrix units, which the CPU "
                    + "backend does not have; use --quantization q8_0 (8-bit integer blocks, int8 dot products)"
            )
        ) { try VLLMFlags(quantization: "fp8").check() }
        let notices = try VLLMFlags(dtype: "float16", enforceEager: true, trustRemoteCode: true).check()
        #expect(notices.count == 3)
        #expect(notices.contains { $0.contains("--trust-remote-code has no meaning here") })
    }
}
