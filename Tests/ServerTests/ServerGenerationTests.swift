import AsyncHTTPClient
import Engine
import Foundation
import Logging
import Models
import NIOCore
import Server
import ServiceLifecycle
import Synchronization
import Testing

/// Completions over HTTP on a synthetic model: streamed text equals the whole response, `n` and several
/// prompts number their choices as OpenAI does, usage adds up, and `/metrics` exposes vLLM's families.
@Suite struct ServerGenerationTests {
    /// The `data:` payloads of an event stream, `[DONE]` included.
    static func events(_ body: String) -> [String] {
        body.components(separatedBy: "\n\n").compactMap { block in
            block.hasPrefix("data: ") ? String(block.dropFirst(6)) : nil
        }
    }

    @Test func streamedTextEqualsTheWholeResponse() async throws {
        let server = try await TestServer.start(load: TestServer.synthetic())
        defer { Task { await server.stop() } }
        let request = #"{"model":"tiny","prompt":[[3,4,5],[7,8]],"max_tokens":12,"temperature":0,"n":2"#
        let whole = try TestServer.json(try await server.send(.POST, "/v1/completions", body: request + "}").body)
        let choices = whole["choices"] as? [[String: Any]] ?? []
        #expect(choices.map { $0["index"] as? Int } == [0, 1, 2, 3])
        #expect(choices.allSatisfy { $0["finish_reason"] as? String == "length" })
        // Greedy: both completions of a prompt agree.
        #expect(choices[0]["text"] as? String == choices[1]["text"] as? String)
        let usage = whole["usage"] as? [String: Any] ?? [:]
        #expect(usage["prompt_tokens"] as? Int == 5)
        #expect(usage["completion_tokens"] as? Int == 48)
        #expect(usage["total_tokens"] as? Int == 53)
        #expect(whole["object"] as? String == "text_completion")

        let streamed = try await server.send(
            .POST,
            "/v1/completions",
            body: request + #","stream":true,"stream_options":{"include_usage":true}}"#
        )
        let events = Self.events(streamed.body)
        #expect(events.last == "[DONE]")
        var texts = [String](repeating: "", count: 4)
        var finishes = [String?](repeating: nil, count: 4)
        for event in events.dropLast() {
            let chunk = try TestServer.json(event)
            for choice in chunk["choices"] as? [[String: Any]] ?? [] {
                let index = choice["index"] as? Int ?? 0
                texts[index] += choice["text"] as? String ?? ""
                if let reason = choice["finish_reason"] as? String { finishes[index] = reason }
            }
        }
        #expect(texts == choices.map { $0["text"] as? String ?? "" })
        #expect(finishes == ["length", "length", "length", "length"])
        let last = try TestServer.json(events[events.count - 2])
        #expect((last["choices"] as? [Any])?.isEmpty == true)
        #expect((last["usage"] as? [String: Any])?["completion_tokens"] as? Int == 48)
    }

    @Test func chatStopsAtAStopStringAndSaysWhich() async throws {
        let server = try await TestServer.start(load: TestServer.synthetic())
        defer { Task { await server.stop() } }
        let free = try TestServer.json(
            try await server.send(
                .POST,
                "/v1/chat/completions",
                body: #"{"messages":[{"role":"user","content":"c d e"}],"max_tokens":10,"temperature":0}"#
            ).body
        )
        let choice = (free["choices"] as? [[String: Any]])?.first ?? [:]
        let text = (choice["message"] as? [String: Any])?["content"] as? String ?? ""
        let words = text.split(separator: " ")
        #expect(words.count >= 4, "\(text)")
        let stop = String(words[2])
        let body =
            #"{"messages":[{"role":"user","content":"c d e"}],"max_tokens":10,"temperature":0,"stop":[" \#(stop) "]}"#
        let stopped = try TestServer.json(try await server.send(.POST, "/v1/chat/completions", body: body).body)
        let stoppedChoice = (stopped["choices"] as? [[String: Any]])?.first ?? [:]
        let stoppedText = (stoppedChoice["message"] as? [String: Any])?["content"] as? String ?? ""
        #expect(text.hasPrefix(stoppedText) && !stoppedText.contains(" \(stop) "), "\(stoppedText) vs \(text)")
        #expect(stoppedChoice["finish_reason"] as? String == "stop")
        #expect(stoppedChoice["stop_reason"] as? String == " \(stop) ")
        #expect(stopped["object"] as? String == "chat.completion")
        #expect((stopped["id"] as? String)?.hasPrefix("chatcmpl-") == true)
    }

    @Test func metricsExposeVLLMFamilies() async throws {
        var configuration = ServerConfiguration()
        configuration.histogramBuckets = [0.001, 0.01, 0.1, 1]
        let server = try await TestServer.start(configuration, load: TestServer.synthetic())
        defer { Task { await server.stop() } }
        for _ in 0..<2 {
            _ = try await server.send(.POST, "/v1/completions", body: #"{"prompt":[5,6,7,8],"max_tokens":5}"#)
        }
        let text = try await server.send(.GET, "/metrics").body
        let families = [
            "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
            "vllm:cache_config_info", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
            "vllm:prompt_tokens_cached_total", "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total",
            "vllm:num_preemptions_total", "vllm:request_success_total", "vllm:time_to_first_token_seconds",
            "vllm:inter_token_latency_seconds", "vllm:request_time_per_output_token_seconds",
            "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds",
            "vllm:request_prefill_time_seconds", "vllm:request_decode_time_seconds", "vllm:request_prompt_tokens",
            "vllm:request_generation_tokens",
        ]
        for family in families { #expect(text.contains("# TYPE \(family) "), "\(family)") }
        let label = #"model_name="tiny""#
        #expect(text.contains(#"vllm:generation_tokens_total{\#(label)} 10"#), "\(text)")
        #expect(text.contains(#"vllm:prompt_tokens_total{\#(label)} 8"#))
        #expect(text.contains(#"vllm:request_success_total{\#(label),finished_reason="length"} 2"#))
        #expect(text.contains(#"vllm:e2e_request_latency_seconds_bucket{\#(label),le="0.001"}"#))
        #expect(text.contains(#"vllm:e2e_request_latency_seconds_count{\#(label)} 2"#))
        #expect(text.contains(#"vllm:inter_token_latency_seconds_count{\#(label)} 8"#))
        #expect(text.contains(#"vllm:cache_config_info{\#(label),block_size="16""#))
        // Prefix caching: the second request found the first's full block (16 tokens? no: 4-token prompts
        // fill none), so hits stay 0 while queries count both prompts.
        #expect(text.contains(#"vllm:num_requests_running{\#(label)} 0.0"#))
    }

    @Test func speculativeDecodingIsCountedAsVLLMCountsIt() async throws {
        let config = try SpeculativeConfig(numSpeculativeTokens: 4, promptLookupMax: 3, promptLookupMin: 1)
        let server = try await TestServer.start(load: TestServer.synthetic(speculative: config))
        defer { Task { await server.stop() } }
        let body = #"{"prompt":[5,6,7,8,9,5,6,7,8,9,5,6,7,8,9],"max_tokens":30,"ignore_eos":true}"#
        let answer = try TestServer.json(try await server.send(.POST, "/v1/completions", body: body).body)
        #expect(((answer["usage"] as? [String: Any])?["completion_tokens"] as? Int) == 30)
        let text = try await server.send(.GET, "/metrics").body
        func value(_ series: String) -> Int? {
            text.split(separator: "\n").first { $0.hasPrefix(series + " ") }
                .flatMap { Double($0.split(separator: " ").last!).map { Int($0) } }
        }
        let label = #"model_name="tiny""#
        let drafts = try #require(value(#"vllm:spec_decode_num_drafts_total{\#(label)}"#), "\(text)")
        let tokens = try #require(value(#"vllm:spec_decode_num_draft_tokens_total{\#(label)}"#))
        let accepted = try #require(value(#"vllm:spec_decode_num_accepted_tokens_total{\#(label)}"#))
        let byPosition = (0..<4).map {
            value(#"vllm:spec_decode_num_accepted_tokens_per_pos_total{\#(label),position="\#($0)"}"#)
        }
        #expect(drafts > 0 && tokens >= drafts && tokens <= 4 * drafts && accepted <= tokens)
        #expect(byPosition.allSatisfy { $0 != nil } && byPosition.reduce(0) { $0 + $1! } == accepted)
    }
}

/// Graceful shutdown (SIGTERM in `swerve serve`): a request in flight runs to its end before the engine stops;
/// one still running when the shutdown timeout runs out ends with an error event and `[DONE]`. That last
/// promise is tested in its two halves, neither of which depends on how fast a loaded machine runs: the drain
/// signal stops the engine before the timeout when requests are still running, and a stream whose engine stops
/// ends with the error event (one test of the whole, racing the group's cancellation, failed on loaded cores).
@Suite struct ServerShutdownTests {
    /// Keeps the engine of the model a load closure builds, so a test can stop it as the drain signal does.
    final class EngineBox: Sendable {
        let engine = Mutex<Engine?>(nil)

        func keeping(
            _ load: @escaping @Sendable () async throws -> ServedModel
        ) -> @Sendable () async throws -> ServedModel {
            {
                let model = try await load()
                self.engine.withLock { $0 = model.engine }
                return model
            }
        }

        /// The engine, once loaded (waits up to 30 s).
        func loaded() async throws -> Engine {
            for _ in 0..<3000 {
                if let engine = engine.withLock({ $0 }) { return engine }
                try await Task.sleep(for: .milliseconds(10))
            }
            throw CancellationError()
        }
    }

    /// Streams `body` from a new server; as soon as the engine runs the request (watched
    /// on the server's side, so a slow client cannot delay it) calls `interrupt`, then reads the stream to its
    /// end and stops the server. Returns the events. `prepare` sees the engine before the request is sent.
    static func eventsInterrupted(
        _ body: String,
        prepare: (Engine) -> Void = { _ in },
        by interrupt: @Sendable (TestServer, Engine) async -> Void
    ) async throws -> [String] {
        let box = EngineBox()
        let server = try await TestServer.start(load: box.keeping(TestServer.synthetic()))
        let engine = try await box.loaded()
        prepare(engine)
        let reading = Task {
            var request = HTTPClientRequest(url: server.base + "/v1/completions")
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
            var text = ""
            for try await buffer in response.body { text += String(buffer: buffer) }
            return text
        }
        let started = ContinuousClock.now
        while server.host.isIdle, ContinuousClock.now - started < .seconds(30) {
            try await Task.sleep(for: .milliseconds(5))
        }
        await interrupt(server, engine)
        let text = try await reading.value
        await server.stop()
        return ServerGenerationTests.events(text)
    }

    @Test func aStreamWhoseEngineStopsEndsWithAnErrorEventAndDone() async throws {
        // The engine is held after its first step until its shutdown has begun, so the completions are still
        // running when it stops however fast the machine runs them (unheld, a fast machine finished all 128).
        let gate = Gate()
        let events = try await Self.eventsInterrupted(
            #"{"prompt":[3,4,5],"max_tokens":250,"n":128,"ignore_eos":true,"stream":true}"#,
            prepare: { $0.observe { _ in gate.pass() } },
            by: { _, engine in
                async let stopped: Void = engine.shutdown()
                while !engine.isStopping { try? await Task.sleep(for: .milliseconds(1)) }
                gate.open()
                await stopped
            }
        )
        let finished = events.filter { $0.contains(#""finish_reason":"length""#) }
        #expect(finished.count < 128, "stopped while running")
        #expect(events.last == "[DONE]", "\(events.suffix(2))")
        let error = events.dropLast().last ?? ""
        #expect(error.contains(#""error""#) && error.contains("shutting down"), "\(events.suffix(2))")
    }

    /// Holds the engine's thread after its first step until `open()`, so what it runs cannot finish before
    /// the test says, however fast or loaded the machine is.
    final class Gate: Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        let passed = Atomic(false)

        func pass() { if !passed.exchange(true, ordering: .relaxed) { semaphore.wait() } }
        func open() { semaphore.signal() }
    }

    @Test func theDrainSignalStopsTheEngineBeforeTheShutdownTimeout() async throws {
        let captured = AbortedRequestLogTests.Lines()
        let logger = Logger(label: "test") { _ in AbortedRequestLogTests.CapturingHandler(lines: captured) }
        let notice = "shutdown timeout: aborting the requests still running"
        var configuration = ServerConfiguration()
        configuration.shutdownTimeout = .seconds(2)
        let box = EngineBox()
        // The host and its drain signal as `swerve serve` orders them, without the HTTP server: what is
        // checked is that the drain signal stops the engine, not how a cut connection reads.
        let host = ModelHost(configuration: configuration, logger: logger, load: box.keeping(TestServer.synthetic()))
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: host), .init(service: host.drainSignal)],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        let group = ServiceGroup(configuration: groupConfiguration)
        let running = Task { try await group.run() }
        let engine = try await box.loaded()
        let gate = Gate()
        engine.observe { _ in gate.pass() }
        let streams = try (0..<4).map {
            try engine.generate(
                EngineRequest(
                    id: "\($0)",
                    prompt: [3, 4, 5],
                    parameters: SamplingParameters(maxTokens: 250, ignoreEOS: true)
                )
            )
        }
        await group.triggerGracefulShutdown()
        // The engine is held after its first step: the requests are still running at the drain deadline
        // (1.5 s on), when the drain signal must log and stop the engine, which stops once let go.
        for _ in 0..<3000 where !captured.lines.withLock({ $0.contains(notice) }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        gate.open()
        var stopped = 0
        for stream in streams {
            do {
                for try await _ in stream {}
            } catch EngineError.shutDown {
                stopped += 1
            }
        }
        _ = await running.result
        #expect(stopped == 4, "requests still running at the drain deadline end with EngineError.shutDown")
        #expect(
            captured.lines.withLock { $0 }.contains(notice),
            "stopped by the drain signal, not by the host after the group's cancellation"
        )
    }

    @Test func inFlightRequestsFinishOnGracefulShutdown() async throws {
        let events = try await Self.eventsInterrupted(
            #"{"prompt":[3,4,5],"max_tokens":240,"n":8,"ignore_eos":true,"stream":true}"#
        ) { server, _ in await server.stop() }
        #expect(events.last == "[DONE]")
        let finished = events.filter { $0.contains(#""finish_reason":"length""#) }
        #expect(finished.count == 8, "every completion ran to max_tokens: \(events.suffix(3))")
    }
}

/// `--enable-log-requests`: a request the client abandons is logged with what it had done, not as zeros.
@Suite struct AbortedRequestLogTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
    }

    /// Keeps every message logged through it.
    struct CapturingHandler: LogHandler {
        let lines: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { lines.lines.withLock { $0.append("\(event.message)") } }
    }

    @Test func anAbandonedRequestIsLoggedWithItsTokens() async throws {
        let captured = Lines()
        let logger = Logger(label: "test") { _ in CapturingHandler(lines: captured) }
        var configuration = ServerConfiguration()
        configuration.logRequests = true
        let server = TestServer(
            running: await RunningServer.start(configuration, logger: logger, load: TestServer.synthetic())
        )
        try await server.waitUntilReady()
        defer { Task { await server.stop() } }
        let body = #"{"prompt": [3, 4], "max_tokens": 250, "n": 48, "ignore_eos": true, "stream": true}"#
        let connection = try RawConnection(port: server.running.port)
        await connection.send(
            "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        )
        // The client goes away mid-stream, once a token has arrived, from the thread that read it (a fixed
        // delay raced a loaded machine: closed before the request was read, it logs nothing at all; and a close
        // left to the test's task came after all 12,000 tokens when the cooperative pool was busy). The first
        // token may take long on a loaded 2-core machine: CI once saw none within 30 s.
        let received = await connection.hangUp(after: #""text":"#, within: 120)
        #expect(received.contains(#""text":"#), "no token streamed: \(received.suffix(300))")
        var line: String?
        for _ in 0..<600 where line == nil {
            try await Task.sleep(for: .milliseconds(50))
            line = captured.lines.withLock { $0.first { $0.contains("aborted") } }
        }
        let logged = try #require(line, "no abort logged: \(captured.lines.withLock { $0 })")
        #expect(logged.contains("prompt_tokens=2") && logged.contains("/48 "), "\(logged)")
        #expect(!captured.lines.withLock { $0 }.contains { $0.contains("output_tokens=0") }, "no line of zeros")
        let output = logged.split(separator: " ").first { $0.hasPrefix("output_tokens=") }
        #expect((output?.dropFirst("output_tokens=".count)).flatMap { Int($0) }.map { $0 > 0 } == true, "\(logged)")
    }
}

/// A model's generation_config.json defaults (`--generation-config auto`) fill the fields a request leaves
/// out, as vLLM's do; a field the request sets wins.
@Suite struct GenerationDefaultsTests {
    @Test func defaultsFillOnlyWhatTheRequestLeavesOut() async throws {
        let defaults = GenerationDefaults(temperature: 0, maxTokens: 3)
        let server = try await TestServer.start(load: TestServer.synthetic(generationDefaults: defaults))
        defer { Task { await server.stop() } }
        func completion(_ extra: String) async throws -> (tokens: Int?, text: String?) {
            let body = #"{"model":"tiny","prompt":[3,4,5]\#(extra)}"#
            let json = try TestServer.json(try await server.send(.POST, "/v1/completions", body: body).body)
            let choice = (json["choices"] as? [[String: Any]])?.first
            return ((json["usage"] as? [String: Any])?["completion_tokens"] as? Int, choice?["text"] as? String)
        }
        #expect(try await completion("").tokens == 3, "max_new_tokens is the default max_tokens")
        #expect(try await completion(#","max_tokens":5"#).tokens == 5)
        // Temperature 0 by default: greedy, so every answer is the same.
        let first = try await completion("").text
        for _ in 0..<3 { #expect(try await completion("").text == first) }
    }

    @Test func generationConfigIsReadWithVLLMsKeys() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swerve-gen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try GenerationDefaults(folder: folder.path).isEmpty, "no file: no defaults")
        let file = folder.appendingPathComponent("generation_config.json")
        try Data(
            #"{"temperature":0.6,"top_p":0.95,"top_k":20,"min_p":0,"repetition_penalty":1.1,"max_new_tokens":64,"do_sample":true,"bos_token_id":1}"#
                .utf8
        ).write(to: file)
        let read = try GenerationDefaults(folder: folder.path)
        #expect(
            read
                == GenerationDefaults(
                    temperature: 0.6,
                    topP: 0.95,
                    topK: 20,
                    minP: 0,
                    repetitionPenalty: 1.1,
                    maxTokens: 64
                )
        )
        try Data(#"{"temperature":"warm"}"#.utf8).write(to: file)
        #expect(throws: CheckpointError("generation_config.json", "'temperature' is not a number")) {
            try GenerationDefaults(folder: folder.path)
        }
    }
}
