import ArgumentParser
import AsyncHTTPClient
import Bench
import Engine
import Foundation
import Logging
import Models
import NIOCore
import Server
import SwerveCore
import Tokenizers

/// `swerve bench http`: what the HTTP layer adds to a request. One engine, served in this process on a
/// local port; the same Pika request (greedy, so the same tokens) goes through `Engine.generate` directly
/// (prompt already tokenized) and through `POST /v1/chat/completions` (JSON, chat template, tokenization,
/// routing, response encoding, a keep-alive loopback connection), alternating which goes first, and the
/// paired differences are reported. Each pair is preceded by an untimed run of its prompt, so both paths
/// find the same prefix-cache blocks: the engine work is identical, and the difference is the front end's.
struct BenchHTTP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "Measure what the HTTP front end adds to a Pika request over the engine alone, in one run."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var engine: EngineOptions

    @Option(help: "Measured request pairs (engine alone, over HTTP).")
    var requests = 60

    @Option(help: "Pairs run first and not measured.")
    var warmup = 5

    @Option(help: "Tokens per answer (greedy).")
    var maxTokens = 16

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() async throws {
        do {
            try await measure()
        } catch {
            fail(error)
        }
    }

    func measure() async throws {
        let logger = Logger(label: "swerve") { _ in SwiftLogNoOpLogHandler() }
        let path = try await resolveModel(model.model, quiet: json)
        let file = try ModelFile(path: path, weights: model.weights.format)
        let (core, _) = try engine.makeEngine(file, logger: logger)
        let served = ServedModel(engine: Engine(core: core), prompts: file.prompts, names: ["pika"], root: path)
        let server = await RunningServer.start { served }
        defer { Task { await server.stop() } }
        while try await post(server, "/health", nil).status != 200 { try await Task.sleep(for: .milliseconds(50)) }

        var direct: [Double] = []
        var http: [Double] = []
        var frontEnd: [Double] = []
        for i in 0..<(warmup + requests) {
            let turn = PikaWorkload.userTurn(i % 8)
            let messages: [[String: String]] = [
                ["role": "system", "content": PikaWorkload.systemPrompt], ["role": "user", "content": turn],
            ]
            let body = try JSONSerialization.data(
                withJSONObject: ["model": "pika", "messages": messages, "max_tokens": maxTokens, "temperature": 0]
            )
            let ids = try file.prompts.chat(
                .array(messages.map { .object(JinjaObject($0.map { ($0.key, JinjaValue.string($0.value)) })) })
            )
            func viaEngine(id: String) async throws -> (Double, [Int]) {
                let start = Monotonic.seconds()
                var usage: Usage?
                let request = EngineRequest(
                    id: id,
                    prompt: ids,
                    parameters: SamplingParameters(temperature: 0, maxTokens: maxTokens)
                )
                for try await output in try served.engine.generate(request) { usage = output.usage ?? usage }
                let counts = usage.map { [$0.promptTokens, $0.cachedPromptTokens, $0.completionTokens] } ?? []
                return (Monotonic.seconds() - start, counts)
            }
            func viaHTTP() async throws -> (Double, [Int]) {
                let start = Monotonic.seconds()
                let (status, text, timing) = try await post(server, "/v1/chat/completions", body)
                let elapsed = Monotonic.seconds() - start
                guard status == 200 else { throw ValidationError("HTTP \(status): \(text)") }
                // The same request's engine time, from its Server-Timing header: what is left is the front end.
                if i >= warmup, let engine = timing.flatMap(Self.engineMilliseconds) {
                    frontEnd.append(elapsed * 1000 - engine)
                }
                let usage = try JSONDecoder().decode(UsageEnvelope.self, from: Data(text.utf8)).usage
                return (
                    elapsed, [usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens, usage.completion_tokens]
                )
            }
            // Prime the prefix cache with this prompt, so both timed paths find the same blocks cached.
            _ = try await viaEngine(id: "prime-\(i)")
            let engineFirst = i % 2 == 0
            let a = try await engineFirst ? viaEngine(id: "direct-\(i)") : viaHTTP()
            let b = try await engineFirst ? viaHTTP() : viaEngine(id: "direct-\(i)")
            let (e, h) = engineFirst ? (a, b) : (b, a)
            guard e.1 == h.1 else {
                throw ValidationError("prompt, cached and generated tokens differ: engine \(e.1), HTTP \(h.1)")
            }
            if i >= warmup {
                direct.append(e.0)
                http.append(h.0)
            }
        }
        var health: [Double] = []
        for _ in 0..<requests {
            let start = Monotonic.seconds()
            _ = try await post(server, "/health", nil)
            health.append(Monotonic.seconds() - start)
        }
        var report = HTTPOverheadReport(
            direct: direct,
            http: http,
            health: health,
            frontEnd: frontEnd,
            maxTokens: maxTokens
        )
        let pikaBody = try JSONSerialization.data(
            withJSONObject: [
                "model": "pika", "max_tokens": maxTokens, "temperature": 0,
                "messages": [
                    ["role": "system", "content": PikaWorkload.systemPrompt],
                    ["role": "user", "content": PikaWorkload.userTurn(0)],
                ],
            ]
        )
        report.pieces_us_median = Dictionary(
            uniqueKeysWithValues: try FrontEndCosts.measure(served, body: pikaBody, iterations: 500)
        )
        if json {
            print(String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
        } else {
            print(report.text)
            for (piece, micros) in try FrontEndCosts.measure(served, body: pikaBody, iterations: 500) {
                print(
                    "  " + piece.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: "%8.1f µs", micros)
                )
            }
        }
    }

    /// The `engine;dur=` milliseconds of a Server-Timing header.
    static func engineMilliseconds(_ header: String) -> Double? {
        header.split(separator: ",").lazy.compactMap { entry -> Double? in
            let parts = entry.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.first == "engine", let dur = parts.first(where: { $0.hasPrefix("dur=") }) else { return nil }
            return Double(dur.dropFirst(4))
        }.first
    }

    func post(
        _ server: RunningServer,
        _ path: String,
        _ body: Data?
    ) async throws -> (status: Int, body: String, timing: String?) {
        var request = HTTPClientRequest(url: server.baseURL + path)
        if let body {
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        return (
            Int(response.status.code),
            String(buffer: try await response.body.collect(upTo: 1 << 20)),
            response.headers["Server-Timing"].first
        )
    }

    struct UsageEnvelope: Decodable {
        struct Usage: Decodable {
            struct Details: Decodable { var cached_tokens: Int }
            var prompt_tokens: Int
            var completion_tokens: Int
            var prompt_tokens_details: Details
        }
        var usage: Usage
    }
}

/// `swerve bench http`'s result: each path's latency and the paired difference (HTTP minus engine).
struct HTTPOverheadReport: Encodable {
    var requests: Int
    var max_tokens: Int
    var engine_ms_median: Double
    var http_ms_median: Double
    var overhead_ms_median: Double
    var overhead_ms_p90: Double
    var overhead_ms_mean: Double
    /// `GET /health` on the same connection: the HTTP round trip with no engine work.
    var health_round_trip_ms_median: Double
    /// Within each HTTP request: its round trip minus its own engine time (Server-Timing), milliseconds.
    var front_end_ms_median: Double
    var front_end_ms_p90: Double
    /// The front end's pieces timed in process (`FrontEndCosts`), microseconds.
    var pieces_us_median: [String: Double] = [:]

    init(direct: [Double], http: [Double], health: [Double], frontEnd: [Double], maxTokens: Int) {
        let differences = zip(http, direct).map { ($0 - $1) * 1000 }.sorted()
        requests = direct.count
        max_tokens = maxTokens
        engine_ms_median = Percentile.median(direct) * 1000
        http_ms_median = Percentile.median(http) * 1000
        overhead_ms_median = Percentile.of(sorted: differences, 50)
        overhead_ms_p90 = Percentile.of(sorted: differences, 90)
        overhead_ms_mean = differences.reduce(0, +) / Double(max(1, differences.count))
        health_round_trip_ms_median = Percentile.median(health) * 1000
        let sorted = frontEnd.sorted()
        front_end_ms_median = Percentile.of(sorted: sorted, 50)
        front_end_ms_p90 = Percentile.of(sorted: sorted, 90)
    }

    var text: String {
        func f(_ x: Double) -> String { String(format: "%.3f", x) }
        return """
            \(requests) Pika requests per path, \(max_tokens) greedy tokens each
            engine alone:  median \(f(engine_ms_median)) ms
            over HTTP:     median \(f(http_ms_median)) ms
            HTTP overhead: median \(f(overhead_ms_median)) ms, p90 \(f(overhead_ms_p90)) ms, mean \(f(overhead_ms_mean)) ms \
            (paired requests)
            front end:     median \(f(front_end_ms_median)) ms, p90 \(f(front_end_ms_p90)) ms (each HTTP request's round \
            trip minus its own engine time, from Server-Timing)
            GET /health:   median \(f(health_round_trip_ms_median)) ms (round trip, no engine work)
            front-end pieces, in process (median µs):
            """
    }
}
