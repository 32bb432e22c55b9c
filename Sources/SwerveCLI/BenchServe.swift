import ArgumentParser
import Bench
import Foundation
import ModelStore
import Models

/// `swerve bench serve`: `vllm bench serve` against Swerve or any OpenAI-compatible server, with its flags
/// and result keys.
struct BenchServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Load-test a running OpenAI-compatible server (like `vllm bench serve`)."
    )

    @Option(help: "Server address with scheme; overrides --host and --port.") var baseURL: String?
    @Option(help: "Server host.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 8000
    @Option(help: "Route: /v1/chat/completions or /v1/completions.") var endpoint = "/v1/chat/completions"
    @Option(help: "The model name the server serves.") var model = "HuggingFaceTB/SmolLM2-135M-Instruct"
    @Option(help: "Tokenizer for counting tokens and random prompts: a built-in model name or GGUF path.")
    var tokenizer = BuiltinModel.defaultModel.name
    @Option(help: "pika, random or custom.") var datasetName = "pika"
    @Option(help: "JSONL file for --dataset-name custom.") var datasetPath: String?
    @Option(help: "Requests to send.") var numPrompts = 100
    @Option(help: "Requests per second (Poisson arrivals), or inf to send all at once.") var requestRate = "inf"
    @Option(help: "Gamma shape of the arrival gaps: 1 is Poisson, lower is burstier.") var burstiness = 1.0
    @Option(help: "At most this many requests in flight.") var maxConcurrency: Int?
    @Option(help: "Prompt tokens of random requests.") var randomInputLen = 128
    @Option(help: "Output tokens of random (and custom) requests.") var randomOutputLen = 128
    @Option(help: "Tokens every random prompt starts with (a shared prefix).") var randomPrefixLen = 0
    @Flag(help: "Add the seed's Pika response_format (its JSON schema) to pika requests.") var pikaSchema = false
    @Option(help: "Metrics whose percentiles are printed: ttft,tpot,itl,e2el.") var percentileMetrics = "ttft,tpot,itl"
    @Option(help: "Percentiles reported, e.g. 50,90,99.") var metricPercentiles = "99"
    @Option(
        parsing: .upToNextOption,
        help: "Service-level bounds for goodput, in ms: ttft:50 tpot:20 e2el:100."
    )
    var goodput: [String] = []
    @Flag(help: "Write the results JSON.") var saveResult = false
    @Option(help: "Results JSON file (with --save-result).") var resultFilename: String?
    @Option(help: "Folder for the results JSON.") var resultDir: String?
    @Option(help: "Write a self-contained HTML report (charts inline, no network) to this file.") var reportHtml:
        String?
    @Option(help: "Seed for the dataset and arrival times.") var seed: UInt64 = 0
    @Option(help: "Requests sent first, one at a time, not measured.") var warmupRequests = 0
    @Option(help: "Bearer key (default: $OPENAI_API_KEY).") var apiKey: String?
    @Flag(help: "No progress bar.") var disableTqdm = false

    func validate() throws {
        guard ServeDataset.Name(rawValue: datasetName) != nil else {
            throw ValidationError("--dataset-name must be pika, random or custom")
        }
        guard datasetName != "custom" || datasetPath != nil else {
            throw ValidationError("custom needs --dataset-path")
        }
        guard rate != nil else { throw ValidationError("--request-rate must be a positive number or inf") }
        guard numPrompts >= 1, burstiness > 0 else {
            throw ValidationError("--num-prompts and --burstiness must be positive")
        }
        _ = try goodputBounds()
    }

    var rate: Double? {
        if requestRate == "inf" { return .infinity }
        return Double(requestRate).flatMap { $0 > 0 ? $0 : nil }
    }

    func goodputBounds() throws -> [String: Double] {
        var bounds: [String: Double] = [:]
        for entry in goodput {
            let parts = entry.split(separator: ":")
            guard parts.count == 2, ["ttft", "tpot", "e2el"].contains(String(parts[0])), let ms = Double(parts[1])
            else {
                throw ValidationError(
                    "--goodput takes metric:milliseconds with metric ttft, tpot or e2el, got '\(entry)'"
                )
            }
            bounds[String(parts[0])] = ms
        }
        return bounds
    }

    func run() async throws {
        do {
            let report = try await measure()
            print(report.table)
            if saveResult || resultFilename != nil {
                var path =
                    resultFilename
                    ?? "swerve-\(datasetName)-\(requestRate)qps-\(ServeReport.dateFormatter.string(from: Date())).json"
                if let resultDir { path = URL(fileURLWithPath: resultDir).appendingPathComponent(path).path }
                try Data(report.json.serialized.utf8).write(to: URL(fileURLWithPath: path))
                print("results written to \(path)")
            }
            if let reportHtml {
                try Data(report.html.utf8).write(to: URL(fileURLWithPath: reportHtml))
                print("report written to \(reportHtml)")
            }
        } catch {
            fail(error)
        }
    }

    func measure() async throws -> ServeReport {
        let file = try ModelFile(path: try await resolveModel(tokenizer, quiet: true))
        let dataset: ServeDataset
        switch ServeDataset.Name(rawValue: datasetName)! {
        case .pika: dataset = .pika(count: numPrompts, seed: seed, tokenizer: file.tokenizer, schema: pikaSchema)
        case .random:
            dataset = .random(
                count: numPrompts,
                inputLength: randomInputLen,
                outputLength: randomOutputLen,
                prefixLength: randomPrefixLen,
                seed: seed,
                tokenizer: file.tokenizer
            )
        case .custom:
            dataset = try .custom(
                path: datasetPath!,
                count: numPrompts,
                outputLength: randomOutputLen,
                tokenizer: file.tokenizer
            )
        }
        let configuration = ServeBenchmark.Configuration(
            baseURL: baseURL ?? "http://\(host):\(port)",
            endpoint: endpoint,
            model: model,
            requestRate: rate!,
            burstiness: burstiness,
            maxConcurrency: maxConcurrency,
            seed: seed,
            warmupRequests: warmupRequests,
            apiKey: apiKey ?? ProcessInfo.processInfo.environment["OPENAI_API_KEY"],
            progress: !disableTqdm
        )
        let (results, duration) = await ServeBenchmark(configuration, dataset: dataset, tokenizer: file.tokenizer).run()
        return ServeReport(
            results: results,
            duration: duration,
            configuration: configuration,
            options: ServeReport.Options(
                percentileMetrics: percentileMetrics.split(separator: ",").map(String.init),
                percentiles: metricPercentiles.split(separator: ",").compactMap { Double($0) },
                goodput: try goodputBounds()
            ),
            datasetName: datasetName
        )
    }
}
