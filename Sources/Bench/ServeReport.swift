import Foundation
import SwerveCore

/// A serve benchmark's results with `vllm bench serve`'s definitions and key names: request, output and total
/// token throughput, goodput (requests meeting every `--goodput` bound), and for each of TTFT, TPOT, ITL and
/// E2EL the mean, median, standard deviation and the asked percentiles in milliseconds; the summary table
/// vLLM prints, its result JSON, and failures with their reasons.
public struct ServeReport: Sendable {
    public struct Options: Sendable {
        public var percentileMetrics: [String] = ["ttft", "tpot", "itl"]
        public var percentiles: [Double] = [99]
        /// Milliseconds per metric (`ttft`, `tpot`, `e2el`) a request must not exceed to count as good.
        public var goodput: [String: Double] = [:]

        public init(
            percentileMetrics: [String] = ["ttft", "tpot", "itl"],
            percentiles: [Double] = [99],
            goodput: [String: Double] = [:]
        ) {
            self.percentileMetrics = percentileMetrics
            self.percentiles = percentiles
            self.goodput = goodput
        }
    }

    public let results: [ServeBenchmark.RequestResult]
    public let duration: Double
    public let configuration: ServeBenchmark.Configuration
    public let options: Options
    public let datasetName: String

    public init(
        results: [ServeBenchmark.RequestResult],
        duration: Double,
        configuration: ServeBenchmark.Configuration,
        options: Options,
        datasetName: String
    ) {
        self.results = results
        self.duration = duration
        self.configuration = configuration
        self.options = options
        self.datasetName = datasetName
    }

    public var completed: [ServeBenchmark.RequestResult] { results.filter(\.success) }
    public var failed: [ServeBenchmark.RequestResult] { results.filter { !$0.success } }
    var inputTokens: Int { completed.reduce(0) { $0 + $1.promptTokens } }
    var outputTokens: Int { completed.reduce(0) { $0 + $1.outputTokens } }
    public var requestThroughput: Double { Double(completed.count) / duration }
    public var outputThroughput: Double { Double(outputTokens) / duration }

    /// Each metric's samples in milliseconds.
    public func samples(_ metric: String) -> [Double] {
        let ok = completed
        switch metric {
        case "ttft": return ok.compactMap(\.ttft).map { $0 * 1000 }
        case "tpot": return ok.compactMap(\.tpot).map { $0 * 1000 }
        case "itl": return ok.flatMap(\.itls).map { $0 * 1000 }
        case "e2el": return ok.map { $0.latency * 1000 }
        default: return []
        }
    }

    /// Requests meeting every goodput bound.
    var good: Int {
        completed.filter { r in
            options.goodput.allSatisfy { metric, limit in
                switch metric {
                case "ttft": (r.ttft ?? .infinity) * 1000 <= limit
                case "tpot": (r.tpot ?? 0) * 1000 <= limit
                case "e2el": r.latency * 1000 <= limit
                default: true
                }
            }
        }.count
    }

    public struct Statistics: Sendable {
        public var mean = 0.0
        public var median = 0.0
        public var std = 0.0
        public var percentiles: [(Double, Double)] = []
    }

    public func statistics(_ metric: String) -> Statistics {
        let values = samples(metric).sorted()
        guard !values.isEmpty else { return Statistics(percentiles: options.percentiles.map { ($0, 0) }) }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        return Statistics(
            mean: mean,
            median: Percentile.of(sorted: values, 50),
            std: variance.squareRoot(),
            percentiles: options.percentiles.map { ($0, Percentile.of(sorted: values, $0)) }
        )
    }

    static func label(_ p: Double) -> String { p.rounded() == p ? String(Int(p)) : String(p) }

    /// The result JSON with vLLM's keys, in vLLM's order.
    public var json: JSONValue {
        func number(_ x: Double) -> JSONValue { .number(x.isFinite ? String(x) : "0") }
        var members: [(String, JSONValue)] = [
            ("date", .string(Self.dateFormatter.string(from: Date()))),
            ("backend", .string(configuration.chat ? "openai-chat" : "openai")),
            ("model_id", .string(configuration.model)),
            ("dataset_name", .string(datasetName)), ("num_prompts", .number(String(results.count))),
            ("request_rate", configuration.requestRate.isFinite ? number(configuration.requestRate) : .string("inf")),
            ("burstiness", number(configuration.burstiness)),
            ("max_concurrency", configuration.maxConcurrency.map { .number(String($0)) } ?? .null),
            ("duration", number(duration)), ("completed", .number(String(completed.count))),
            ("failed", .number(String(failed.count))),
            ("total_input_tokens", .number(String(inputTokens))),
            ("total_output_tokens", .number(String(outputTokens))),
            ("request_throughput", number(requestThroughput)),
            ("request_goodput", options.goodput.isEmpty ? .null : number(Double(good) / duration)),
            ("output_throughput", number(outputThroughput)),
            ("total_token_throughput", number(Double(inputTokens + outputTokens) / duration)),
        ]
        for metric in ["ttft", "tpot", "itl", "e2el"] {
            let s = statistics(metric)
            members += [
                ("mean_\(metric)_ms", number(s.mean)), ("median_\(metric)_ms", number(s.median)),
                ("std_\(metric)_ms", number(s.std)),
            ]
            for (p, value) in s.percentiles { members.append(("p\(Self.label(p))_\(metric)_ms", number(value))) }
        }
        members += [
            ("input_lens", .array(results.map { .number(String($0.promptTokens)) })),
            ("output_lens", .array(results.map { .number(String($0.outputTokens)) })),
            ("ttfts", .array(results.map { number($0.ttft ?? 0) })),
            ("itls", .array(results.map { .array($0.itls.map(number)) })),
            ("start_times", .array(results.map { number($0.start) })),
            ("e2els", .array(results.map { number($0.latency) })),
            ("generated_texts", .array(results.map { .string($0.text) })),
            ("errors", .array(results.map { .string($0.error ?? "") })),
        ]
        return .object(members)
    }

    public static let dateFormatter: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f
    }()

    /// vLLM's summary table.
    public var table: String {
        func row(_ name: String, _ value: String) -> String {
            name.padding(toLength: 40, withPad: " ", startingAt: 0) + " " + value
        }
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        func title(_ text: String) -> String {
            let pad = max(0, 50 - text.count)
            return String(repeating: "-", count: pad / 2) + text + String(repeating: "-", count: pad - pad / 2)
        }
        var lines = [
            "============ Serving Benchmark Result ============",
            row("Successful requests:", "\(completed.count)"),
            row("Failed requests:", "\(failed.count)"),
        ]
        if let c = configuration.maxConcurrency { lines.append(row("Maximum request concurrency:", "\(c)")) }
        lines += [
            row(
                "Request rate configured (RPS):",
                configuration.requestRate.isFinite ? f(configuration.requestRate) : "inf"
            ),
            row("Benchmark duration (s):", f(duration)),
            row("Total input tokens:", "\(inputTokens)"),
            row("Total generated tokens:", "\(outputTokens)"),
            row("Request throughput (req/s):", f(requestThroughput)),
        ]
        if !options.goodput.isEmpty { lines.append(row("Request goodput (req/s):", f(Double(good) / duration))) }
        lines += [
            row("Output token throughput (tok/s):", f(outputThroughput)),
            row("Total Token throughput (tok/s):", f(Double(inputTokens + outputTokens) / duration)),
        ]
        let names = [
            "ttft": ("Time to First Token", "TTFT"), "tpot": ("Time per Output Token (excl. 1st token)", "TPOT"),
            "itl": ("Inter-token Latency", "ITL"), "e2el": ("End-to-end Latency", "E2EL"),
        ]
        for metric in options.percentileMetrics {
            guard let (heading, short) = names[metric] else { continue }
            let s = statistics(metric)
            lines.append(title(heading))
            lines.append(row("Mean \(short) (ms):", f(s.mean)))
            lines.append(row("Median \(short) (ms):", f(s.median)))
            for (p, value) in s.percentiles { lines.append(row("P\(Self.label(p)) \(short) (ms):", f(value))) }
        }
        lines.append(String(repeating: "=", count: 50))
        let reasons = Dictionary(grouping: failed.compactMap(\.error), by: { $0 }).mapValues(\.count)
        for (reason, count) in reasons.sorted(by: { $0.value > $1.value }) {
            lines.append("failed \(count)×: \(reason)")
        }
        return lines.joined(separator: "\n")
    }
}
