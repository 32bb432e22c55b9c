import ArgumentParser
import Bench
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

    @Option(help: "Sequences decoded together: each step runs one token of each (vLLM's flag).")
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
        guard batchSize >= 1 && batchSize <= 256 else { throw ValidationError("--batch-size must be in 1...256") }
        guard numIters >= 1, numItersWarmup >= 0 else { throw ValidationError("--num-iters must be at least 1") }
    }

    func run() async throws {
        do {
            let file = try await model.open(quiet: json)
            // Past the model's context the positions are not the model's, and the KV cache may not fit in memory.
            guard inputLen + outputLen <= file.config.contextLength else {
                throw ValidationError(
                    "--input-len \(inputLen) + --output-len \(outputLen) is more than the model's context length "
                        + "\(file.config.contextLength)"
                )
            }
            let backend = try run.makeBackend()
            let contextLength = max(run.contextLength(file), inputLen + outputLen)
            var runs: [GenerationResult] = []
            if batchSize == 1 {
                let generator = try Generator(model: file, backend: backend, contextLength: contextLength)
                let prompt = ThroughputBenchmark.randomPrompt(length: inputLen, tokenizer: file.tokenizer, seed: seed)
                for iteration in 0..<(numItersWarmup + numIters) {
                    let result = try generator.generate(prompt: prompt, maxTokens: outputLen, ignoreEOS: true)
                    if iteration >= numItersWarmup { runs.append(result) }
                }
            } else {
                let forward = try ModelRegistry.makeForward(
                    gguf: file.gguf,
                    backend: backend,
                    maxBatch: 512,
                    maxSequences: batchSize
                )
                let prompts = (0..<batchSize).map {
                    ThroughputBenchmark.randomPrompt(
                        length: inputLen,
                        tokenizer: file.tokenizer,
                        seed: seed &+ UInt64($0)
                    )
                }
                for iteration in 0..<(numItersWarmup + numIters) {
                    let result = BatchDecode.run(forward: forward, prompts: prompts, outputLength: outputLen)
                    if iteration >= numItersWarmup { runs.append(result) }
                }
            }
            var report = LatencyReport(
                runs: runs,
                inputLength: inputLen,
                outputLength: outputLen,
                batchSize: batchSize,
                backend: backend.description
            )
            report.addLimits(gguf: file.gguf, backend: backend)
            print(json ? try jsonString(report) : report.text)
        } catch {
            fail(error)
        }
    }
}
