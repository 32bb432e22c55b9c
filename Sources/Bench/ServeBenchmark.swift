import AsyncHTTPClient
import Foundation
import NIOCore
import SwerveCore
import Synchronization
import Tokenizers

/// `vllm bench serve` for any OpenAI-compatible server: requests from a `ServeDataset` sent at a Poisson (or
/// gamma, with `burstiness`) rate or all at once, at most `maxConcurrency` in flight, each streamed so that
/// its time to first token, every gap between chunks and its end-to-end latency are timed. Output tokens are
/// the server's `usage` when it reports one, else counted with the tokenizer. Written here because the load
/// generator must speak the OpenAI streaming protocol exactly as Swerve's clients do; async-http-client does
/// the HTTP.
public struct ServeBenchmark: Sendable {
    public struct Configuration: Sendable {
        public var baseURL: String
        public var endpoint: String
        public var model: String
        /// Requests per second; `.infinity` sends all at once.
        public var requestRate: Double
        /// Gamma shape of the gaps between requests: 1 is Poisson, lower is burstier.
        public var burstiness: Double
        public var maxConcurrency: Int?
        public var seed: UInt64
        public var warmupRequests: Int
        public var apiKey: String?
        public var progress: Bool

        public init(
            baseURL: String = "http://127.0.0.1:8000",
            endpoint: String = "/v1/chat/completions",
            model: String,
            requestRate: Double = .infinity,
            burstiness: Double = 1,
            maxConcurrency: Int? = nil,
            seed: UInt64 = 0,
            warmupRequests: Int = 0,
            apiKey: String? = nil,
            progress: Bool = false
        ) {
            self.baseURL = baseURL
            self.endpoint = endpoint
            self.model = model
            self.requestRate = requestRate
            self.burstiness = burstiness
            self.maxConcurrency = maxConcurrency
            self.seed = seed
            self.warmupRequests = warmupRequests
            self.apiKey = apiKey
            self.progress = progress
        }

        var chat: Bool { endpoint.hasSuffix("chat/completions") }
    }

    /// One request's timings (seconds) and what came back.
    public struct RequestResult: Sendable {
        /// When it was sent, from the benchmark's start.
        public var start: Double
        public var success = false
        public var error: String?
        public var ttft: Double?
        /// Gaps between consecutive chunks that carried text.
        public var itls: [Double] = []
        public var latency = 0.0
        public var promptTokens: Int
        public var outputTokens = 0
        public var text = ""
        public var finishReason: String?

        public init(start: Double, promptTokens: Int) {
            self.start = start
            self.promptTokens = promptTokens
        }

        /// Decode time per output token after the first.
        public var tpot: Double? {
            guard let ttft, outputTokens > 1 else { return nil }
            return (latency - ttft) / Double(outputTokens - 1)
        }
    }

    public let configuration: Configuration
    public let dataset: ServeDataset
    public let tokenizer: any Tokenizer

    public init(_ configuration: Configuration, dataset: ServeDataset, tokenizer: any Tokenizer) {
        self.configuration = configuration
        self.dataset = dataset
        self.tokenizer = tokenizer
    }

    /// Sends the warm-up requests (one at a time, not timed), then every request on the schedule; returns
    /// the results in dataset order and the benchmark's duration.
    public func run() async -> (results: [RequestResult], duration: Double) {
        let c = configuration
        for item in dataset.items.prefix(c.warmupRequests) { _ = await send(item, start: 0, origin: now()) }
        var random = SplitMix64(seed: c.seed)
        var offsets: [Double] = []
        var t = 0.0
        for _ in dataset.items {
            offsets.append(t)
            if c.requestRate.isFinite {
                t += random.gamma(shape: c.burstiness, scale: 1 / (c.requestRate * c.burstiness))
            }
        }
        let origin = now()
        let gate = ConcurrencyGate(limit: c.maxConcurrency ?? .max)
        let progress = c.progress ? ProgressBar(total: dataset.items.count) : nil
        let results = await withTaskGroup(of: (Int, RequestResult).self) { group in
            for (i, item) in dataset.items.enumerated() {
                let wait = offsets[i] - (now() - origin)
                if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
                await gate.enter()
                group.addTask {
                    let result = await send(item, start: now() - origin, origin: origin)
                    await gate.leave()
                    progress?.advance()
                    return (i, result)
                }
            }
            var all = [RequestResult?](repeating: nil, count: dataset.items.count)
            for await (i, result) in group { all[i] = result }
            return all.map { $0! }
        }
        progress?.finish()
        return (results, now() - origin)
    }

    func now() -> Double { Monotonic.seconds() }

    /// The request's JSON body: streamed, greedy, usage requested.
    func body(_ item: ServeDataset.Item) -> String {
        var fields = ["\"model\":" + JSONValue.quote(configuration.model)]
        if configuration.chat {
            let messages = (item.messages ?? [("user", item.prompt ?? "")]).map {
                "{\"role\":" + JSONValue.quote($0.role) + ",\"content\":" + JSONValue.quote($0.content) + "}"
            }
            fields.append("\"messages\":[" + messages.joined(separator: ",") + "]")
        } else {
            fields.append(
                "\"prompt\":" + JSONValue.quote(item.prompt ?? item.messages!.map(\.content).joined(separator: "\n"))
            )
        }
        fields.append("\"max_tokens\":\(item.maxTokens)")
        fields.append("\"temperature\":0")
        fields.append("\"stream\":true")
        fields.append("\"stream_options\":{\"include_usage\":true}")
        if item.ignoreEOS { fields.append("\"ignore_eos\":true") }
        if let format = item.responseFormat { fields.append("\"response_format\":" + format) }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// Sends one request and reads its server-sent events as they arrive.
    func send(_ item: ServeDataset.Item, start: Double, origin: Double) async -> RequestResult {
        var result = RequestResult(start: start, promptTokens: item.promptTokens)
        let sent = now()
        var request = HTTPClientRequest(url: configuration.baseURL + configuration.endpoint)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        if let key = configuration.apiKey { request.headers.add(name: "authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(string: body(item)))
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(600))
            guard response.status == .ok else {
                let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                let message = (try? JSONValue.parse(text))?["error"]?["message"]?.string ?? text
                result.error = "HTTP \(response.status.code): \(message)"
                result.latency = now() - sent
                return result
            }
            var pending: [UInt8] = []
            var last: Double?
            var usage: Int?
            var done = false
            for try await chunk in response.body where !done {
                pending += chunk.readableBytesView
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    guard line.hasPrefix("data:") else { continue }
                    let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
                    if payload == "[DONE]" {
                        done = true
                        break
                    }
                    guard let event = try? JSONValue.parse(payload) else { continue }
                    if let error = event["error"] {
                        result.error = "stream error: \(error["message"]?.string ?? error.serialized)"
                        done = true
                        break
                    }
                    if let tokens = event["usage"]?["completion_tokens"]?.integer { usage = tokens }
                    guard let choice = event["choices"]?.array?.first else { continue }
                    let text = (configuration.chat ? choice["delta"]?["content"]?.string : choice["text"]?.string) ?? ""
                    if let reason = choice["finish_reason"]?.string { result.finishReason = reason }
                    guard !text.isEmpty else { continue }
                    let arrived = now()
                    if let last {
                        result.itls.append(arrived - last)
                    } else {
                        result.ttft = arrived - sent
                    }
                    last = arrived
                    result.text += text
                }
            }
            result.latency = now() - sent
            result.outputTokens = usage ?? tokenizer.encode(result.text, parseSpecial: false, addBOS: false).count
            result.success = result.error == nil && result.ttft != nil
            if result.error == nil && result.ttft == nil { result.error = "the stream carried no text" }
        } catch {
            result.error = "\(error)"
            result.latency = now() - sent
        }
        return result
    }
}

/// At most `limit` requests in flight (`--max-concurrency`).
actor ConcurrencyGate {
    let limit: Int
    var inFlight = 0
    var waiters: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func enter() async {
        if inFlight < limit {
            inFlight += 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func leave() {
        if waiters.isEmpty {
            inFlight -= 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

/// A one-line progress bar on standard error.
final class ProgressBar: Sendable {
    let total: Int
    let done = Mutex(0)

    init(total: Int) { self.total = total }

    func advance() {
        let n = done.withLock {
            $0 += 1
            return $0
        }
        let width = 40
        let filled = n * width / max(1, total)
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardError.write(Data("\r\(bar) \(n)/\(total)".utf8))
    }

    func finish() { FileHandle.standardError.write(Data("\n".utf8)) }
}
