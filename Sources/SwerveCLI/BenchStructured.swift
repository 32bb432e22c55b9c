import ArgumentParser
import Bench
import Engine
import Foundation
import Grammar
import Models
import SwerveCore

/// `swerve bench structured`: token-mask cost per decoding step on a model's vocabulary for the Pika schema
/// and a nested one; `--export` writes the vocabulary, schemas and token ids for `scripts/compare-masks`,
/// which replays them through xgrammar.
struct BenchStructured: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "structured",
        abstract: "Time token-mask computation per decoding step for the Pika schema and a nested schema."
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "Times each answer is replayed.")
    var rounds = 20

    @Option(help: "Write vocab.json, and per schema its schema and token ids, to this folder (for xgrammar).")
    var export: String?

    @Flag(help: "Print one JSON object.")
    var json = false

    struct Report: Encodable {
        var schema: String
        var compile_ms: Double
        var steps: Int
        var first_us_p50: Double
        var first_us_p99: Double
        var cached_us_p50: Double
        var cached_us_p99: Double
    }

    func run() async throws {
        do {
            let file = try await model.open(quiet: json)
            let tokenizer = file.tokenizer
            let eos = Generator.endOfGenerationIDs(tokenizer)
            let vocabulary = TokenVocabulary(
                tokenBytes: (0..<tokenizer.vocabularySize).map { tokenizer.bytes(of: $0, renderSpecial: false) },
                endOfSequence: eos,
                size: file.config.vocabularySize
            )
            var reports: [Report] = []
            for benchmark in MaskBenchmark.all {
                let result = try benchmark.run(tokenizer, vocabulary: vocabulary, rounds: rounds)
                let first = result.first.sorted()
                let cached = result.cached.sorted()
                reports.append(
                    Report(
                        schema: benchmark.name,
                        compile_ms: result.compileMilliseconds,
                        steps: result.steps,
                        first_us_p50: Percentile.of(sorted: first, 50),
                        first_us_p99: Percentile.of(sorted: first, 99),
                        cached_us_p50: Percentile.of(sorted: cached, 50),
                        cached_us_p99: Percentile.of(sorted: cached, 99)
                    )
                )
                if let export {
                    let constraint = try StructuredConstraint(.jsonSchema(benchmark.schema), vocabulary: vocabulary)
                    let paths = try benchmark.trajectories(tokenizer, constraint)
                    try write(
                        ["schema": benchmark.schema, "trajectories": paths.map { $0.map(Int.init) }],
                        export,
                        benchmark.name
                    )
                }
            }
            if let export {
                let hex = vocabulary.tokenBytes.map { $0.map { String(format: "%02x", $0) }.joined() }
                try write(["tokens": hex, "eos": eos.sorted().map(Int.init)], export, "vocab")
            }
            if json {
                print(String(decoding: try JSONEncoder().encode(reports), as: UTF8.self))
            } else {
                print("schema   compile ms  steps  first-visit mask µs p50 / p99   cached mask µs p50 / p99")
                for r in reports {
                    print(
                        r.schema.padding(toLength: 8, withPad: " ", startingAt: 0)
                            + String(
                                format: "%10.1f %6d %14.1f / %-10.1f %12.2f / %.2f",
                                r.compile_ms,
                                r.steps,
                                r.first_us_p50,
                                r.first_us_p99,
                                r.cached_us_p50,
                                r.cached_us_p99
                            )
                    )
                }
            }
        } catch {
            fail(error)
        }
    }

    func write(_ object: [String: Any], _ folder: String, _ name: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let data = try JSONSerialization.data(withJSONObject: object)
        try data.write(to: URL(fileURLWithPath: folder).appendingPathComponent(name + ".json"))
    }
}
