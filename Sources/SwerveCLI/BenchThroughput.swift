import ArgumentParser
import Bench
import Foundation
import Grammar
import Logging
import Models

/// Like `vllm bench throughput`: offline, every request submitted at once.
struct BenchThroughput: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "throughput",
        abstract: "Requests per second with every request queued at once (like `vllm bench throughput`)."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var engine: EngineOptions

    @Option(help: "pika (the seed's system prompt, varied user turns) or random (random tokens).")
    var datasetName = "pika"

    @Option(help: "Requests.")
    var numPrompts = 64

    @Option(help: "Prompt tokens of random requests.")
    var inputLen = 428

    @Option(help: "Tokens generated per request (end of sequence ignored).")
    var outputLen = 15

    @Option(help: "Warm-up requests run first, not timed.")
    var numWarmup = 4

    @Option(help: "Seed for random prompts.")
    var seed: UInt64 = 0

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: "Also write the timed prompts' token ids to this JSON file (to replay them against a peer).")
    var savePrompts: String?

    @Flag(help: "Constrain every answer to the seed's Pika response schema (and let answers end at its end).")
    var pikaSchema = false

    func validate() throws {
        guard ThroughputBenchmark.Dataset(rawValue: datasetName) != nil else {
            throw ValidationError("--dataset-name must be pika or random")
        }
        guard numPrompts >= 1, outputLen >= 1, inputLen >= 1, numWarmup >= 0 else {
            throw ValidationError("--num-prompts, --input-len and --output-len must be at least 1")
        }
    }

    func run() async throws {
        do {
            var logger = Logger(label: "swerve.bench")
            logger.logLevel = json ? .warning : .info
            let file = try await model.open(quiet: json)
            let (core, backend) = try engine.makeEngine(file, logger: logger)
            let dataset = ThroughputBenchmark.Dataset(rawValue: datasetName)!
            let prompts = try ThroughputBenchmark.prompts(
                dataset,
                count: numPrompts + numWarmup,
                inputLength: inputLen,
                model: file,
                seed: seed
            )
            if let savePrompts {
                try JSONEncoder().encode(Array(prompts.prefix(numPrompts))).write(to: URL(fileURLWithPath: savePrompts))
            }
            let constraint =
                try pikaSchema ? core.constraints.constraint(.jsonSchema(PikaWorkload.responseSchema)) : nil
            func run(_ prompts: [[Int32]]) throws -> ThroughputBenchmark.Report {
                try ThroughputBenchmark.run(
                    engine: core,
                    prompts: prompts,
                    outputLength: outputLen,
                    dataset: dataset,
                    backend: backend.description,
                    ignoreEOS: !pikaSchema,
                    constraint: constraint,
                    structured: pikaSchema ? "pika-schema" : "none"
                )
            }
            if numWarmup > 0 { _ = try run(Array(prompts.suffix(numWarmup))) }
            let report = try run(Array(prompts.prefix(numPrompts)))
            print(json ? try jsonString(report) : report.text)
        } catch {
            fail(error)
        }
    }
}
