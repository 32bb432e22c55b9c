import ArgumentParser
import Bench
import Dispatch
import Foundation
import ModelStore
import Models

/// `swerve tune`: benchmark candidate `swerve serve` configurations at rising load and recommend the one that
/// sustains the highest request rate within the SLO.
struct Tune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the swerve serve configuration that meets an SLO at the highest request rate."
    )

    @Option(help: "A built-in model name or GGUF path.") var model = BuiltinModel.defaultModel.name
    @Option(help: "Workload: pika (the seed's requests).") var datasetName = "pika"
    @Flag(help: "Add the seed's Pika response_format to every request.") var pikaSchema = false
    @Option(parsing: .upToNextOption, help: "Objectives on result keys, e.g. \"p99_e2el_ms<=100\" \"mean_ttft_ms<50\".")
    var slo: [String] = ["p99_e2el_ms<=1000"]
    @Option(parsing: .upToNextOption, help: "Request rates to try, ascending (req/s).") var requestRates: [Double] = [
        1, 2, 4, 8,
    ]
    @Option(
        parsing: .upToNextOption,
        help:
            "Dimensions to search, name=v1,v2 (max-num-seqs, max-num-batched-tokens, max-model-len, kv-cache-dtype, threads, enable-prefix-caching, enable-chunked-prefill, enable-jump-forward, speculative-config: JSON values, none for the flag left out)."
    )
    var search: [String] = ["max-num-seqs=8,32", "enable-prefix-caching=true,false"]
    @Option(help: "Requests per rate.") var numPrompts = 40
    @Option(help: "Seed for prompts and arrivals.") var seed: UInt64 = 0
    @Option(help: "Rounds re-measuring the recommendation against the defaults, side by side (0: none).")
    var confirmRounds = 3
    @Option(help: "Port the servers listen on while tuned.") var port = 18200
    @Option(help: "Worker threads for every server (default: all cores).") var threads: Int?
    @Option(help: "Write the results JSON to this file.") var resultFilename: String?
    @Option(help: "Write a self-contained HTML report to this file.") var reportHtml: String?

    func validate() throws {
        guard datasetName == "pika" else { throw ValidationError("swerve tune runs the pika dataset") }
        guard slo.allSatisfy({ Tuner.SLO($0) != nil }) else {
            throw ValidationError("--slo takes key<=bound or key<bound with a result key like p99_e2el_ms")
        }
        guard !requestRates.isEmpty, requestRates.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--request-rates must be positive")
        }
        _ = try dimensions()
    }

    func dimensions() throws -> [(String, [String])] {
        try search.map { entry in
            guard let dimension = Tuner.dimension(entry) else {
                throw ValidationError("--search takes name=v1,v2, got '\(entry)'")
            }
            return dimension
        }
    }

    func run() async throws {
        do {
            let path = try await resolveModel(model, quiet: false)
            let file = try ModelFile(path: path)
            let tuner = Tuner(
                executable: URL(fileURLWithPath: CommandLine.arguments[0]).path,
                model: model,
                servedName: "tuned",
                port: port,
                baseFlags: threads.map { ["--threads", "\($0)"] } ?? [],
                slos: slo.compactMap(Tuner.SLO.init),
                rates: requestRates,
                numPrompts: numPrompts,
                seed: seed,
                pikaSchema: pikaSchema,
                candidates: Tuner.candidates(try dimensions()),
                confirmRounds: confirmRounds
            )
            // Ctrl-C and SIGTERM stop every server this run started before exiting.
            signal(SIGINT, SIG_IGN)
            signal(SIGTERM, SIG_IGN)
            let sources = [SIGINT, SIGTERM].map { (sig: Int32) -> any DispatchSourceSignal in
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler {
                    ServerProcess.stopAll()
                    FileHandle.standardError.write(
                        Data("swerve tune: interrupted; every server it started is stopped\n".utf8)
                    )
                    Foundation.exit(130)
                }
                source.resume()
                return source
            }
            defer { for source in sources { source.cancel() } }
            let log: @Sendable (String) -> Void = { line in
                print(line)
                fflush(nil)  // every stream: progress shows when piped to a file
            }
            let outcomes = await tuner.run(tokenizer: file.tokenizer, log: log)
            let confirmation = await tuner.confirm(
                Tuner.ranked(outcomes, by: tuner.slos.first),
                tokenizer: file.tokenizer,
                log: log
            )
            // Interrupted: the tuner ran out of servers because the handler stopped them; the handler exits
            // with 130 once they are gone, so this thread must not finish first and exit with 0.
            while ServerProcess.isStopping { sleep(1) }
            let report = TunerReport(tuner: tuner, outcomes: outcomes, confirmation: confirmation)
            print(report.table)
            if let resultFilename {
                try Data(report.json.serialized.utf8).write(to: URL(fileURLWithPath: resultFilename))
            }
            if let reportHtml { try Data(report.html.utf8).write(to: URL(fileURLWithPath: reportHtml)) }
        } catch {
            ServerProcess.stopAll()
            fail(error)
        }
    }
}
