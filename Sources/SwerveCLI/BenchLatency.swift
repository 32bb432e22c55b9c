import ArgumentParser
import Bench
import CPUBackend
import Engine
import Foundation
import GGUF
import Models

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks, named after vLLM's.",
        subcommands: [BenchLatency.self, BenchThroughput.self, BenchServe.self, BenchHTTP.self, BenchStructured.self]
    )
}

/// Like `vllm bench latency`: one request of random prompt tokens, timed end to end, after warm-up runs.
struct BenchLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Time prefill and decode of one request of random tokens (like `vllm bench latency`)."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var run: RunOptions

    @Option(help: "Prompt tokens.")
    var inputLen = 428

    @Option(help: "Generated tokens (end-of-generation ignored).")
    var outputLen = 64

    @Option(help: "Requests decoded together (1: this command times one sequence; `bench throughput` batches).")
    var batchSize = 1

    @Option(help: "Warm-up iterations, not timed.")
    var numItersWarmup = 1

    @Option(help: "Timed iterations.")
    var numIters = 3

    @Option(help: "Seed for the random prompt.")
    var seed: UInt64 = 0

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard inputLen >= 1, outputLen >= 1 else {
            throw ValidationError("--input-len and --output-len must be at least 1")
        }
        guard batchSize == 1 else {
            throw ValidationError("--batch-size above 1: use `swerve bench throughput --max-num-seqs N`")
        }
        guard numIters >= 1, numItersWarmup >= 0 else { throw ValidationError("--num-iters must be at least 1") }
    }

    func run() async throws {
        do {
            let file = try ModelFile(path: try await resolveModel(model.model, quiet: json))
            let backend = CPUBackend(threads: run.threads)
            let generator = try Generator(
                model: file,
                backend: backend,
                contextLength: max(run.contextLength(file), inputLen + outputLen)
            )
            let prompt = ThroughputBenchmark.randomPrompt(length: inputLen, tokenizer: file.tokenizer, seed: seed)
            var runs: [GenerationResult] = []
            for iteration in 0..<(numItersWarmup + numIters) {
                let result = try generator.generate(prompt: prompt, maxTokens: outputLen, ignoreEOS: true)
                if iteration >= numItersWarmup { runs.append(result) }
            }
            var report = LatencyReport(
                runs: runs,
                inputLength: inputLen,
                outputLength: outputLen,
                backend: backend.description
            )
            report.addLimits(gguf: file.gguf, backend: backend)
            print(json ? try jsonString(report) : report.text)
        } catch {
            fail(error)
        }
    }
}
