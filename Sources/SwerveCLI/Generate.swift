import ArgumentParser
import CPUBackend
import Engine
import Foundation
import Models
import SwerveCore
import Tokenizers

/// Options for running a model: the device and, on the CPU, its threads and kernel level.
struct RunOptions: ParsableArguments {
    @Option(help: "Device to run the model on: auto, cpu or cuda (vLLM's flag; auto is the CPU).")
    var device: Device = .auto

    @Option(help: "Worker threads for the CPU backend (default: all cores).")
    var threads: Int?

    @Option(help: "Most positions (prompt + output) a sequence may use (default: the model's context, at most 4096).")
    var maxModelLen: Int?

    @Option(
        help: """
            Highest CPU kernel level: scalar, avx2, avx_vnni, avx512, avx512_vnni (default: the best this CPU has, \
            capped by SWERVE_CPU_ISA).
            """
    )
    var cpuIsa: String?

    func validate() throws {
        if let unavailable = device.unavailable { throw ValidationError(unavailable) }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let threads, threads > CPUBackend.maxThreads {
            throw ValidationError(
                "--threads \(threads) is more than \(CPUBackend.maxThreads), the most the CPU backend starts "
                    + "(this machine has \(CPUBackend.coreCount) cores)"
            )
        }
        if let maxModelLen, maxModelLen < 2 { throw ValidationError("--max-model-len must be at least 2") }
        if let cpuIsa, CPUBackend.isa(named: cpuIsa) == nil {
            throw ValidationError(
                "--cpu-isa \(cpuIsa) is not a level: use scalar, avx2, avx_vnni, avx512 or avx512_vnni"
            )
        }
    }

    /// The backend these flags describe (see `Device`).
    func makeBackend() throws -> any Backend & BackendLimits { try device.makeBackend(threads: threads, isa: cpuIsa) }

    func contextLength(_ model: ModelFile) -> Int { maxModelLen ?? min(model.config.contextLength, 4096) }
}

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a prompt or a chat, streaming it to the terminal."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var run: RunOptions

    @Option(help: "Plain-text prompt.")
    var prompt: String?

    @Option(help: "A JSON file holding a list of messages, or an object with a 'messages' list (an OpenAI request).")
    var chat: String?

    @Option(help: "Most tokens to generate.")
    var maxTokens = 128

    @Option(help: "Sampling temperature (0: greedy).")
    var temperature: Float = 0

    @Option(help: "Nucleus sampling: keep the smallest set of tokens whose probability reaches P (1: off).")
    var topP: Float = 1

    @Option(help: "Sample among the K most likely tokens only (0: off).")
    var topK = 0

    @Option(help: "Random seed for sampling.")
    var seed: UInt64?

    @Flag(help: "Print one JSON object (text, token_ids, prompt_tokens, prefill_tok_s, decode_tok_s, finish_reason).")
    var json = false

    func validate() throws {
        guard (prompt == nil) != (chat == nil) else {
            throw ValidationError("give either --prompt TEXT or --chat FILE")
        }
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be at least 0") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be at least 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must be at least 0") }
    }

    func run() async throws {
        do {
            let file = try await model.open(quiet: json)
            let ids = try promptIDs(file)
            let generator = try Generator(
                model: file,
                backend: try run.makeBackend(),
                contextLength: run.contextLength(file)
            )
            var decoder = IncrementalDecoder(tokenizer: file.tokenizer)
            let result = try generator.generate(
                prompt: ids,
                maxTokens: maxTokens,
                sampling: SamplingParameters(temperature: temperature, topP: topP, topK: topK, seed: seed)
            ) { token in
                if !json {
                    FileHandle.standardOutput.write(Data(decoder.append(Int(token)).utf8))
                }
                return true
            }
            if json {
                let output = GenerateOutput(
                    text: file.tokenizer.decode(result.tokenIDs.map(Int.init), renderSpecial: false),
                    token_ids: result.tokenIDs.map(Int.init),
                    prompt_tokens: result.promptTokens,
                    prefill_tok_s: result.prefillTokensPerSecond,
                    decode_tok_s: result.decodeTokensPerSecond,
                    finish_reason: result.finishReason.rawValue
                )
                print(try jsonString(output))
            } else {
                print(decoder.flush())
            }
        } catch {
            fail(error)
        }
    }

    /// The prompt's ids: a chat rendered through the model's template (its BOS comes from the template),
    /// or plain text with BOS as the model's metadata asks.
    func promptIDs(_ file: ModelFile) throws -> [Int32] {
        if let chat {
            let json = try JinjaValue(json: String(contentsOfFile: chat, encoding: .utf8))
            return try file.prompts.chat(json["messages"] == .undefined ? json : json["messages"])
        }
        return file.prompts.text(prompt ?? "")
    }
}

/// `swerve generate --json`.
struct GenerateOutput: Encodable {
    var text: String
    var token_ids: [Int]
    var prompt_tokens: Int
    var prefill_tok_s: Double
    var decode_tok_s: Double
    var finish_reason: String
}

/// Compact JSON with sorted keys.
func jsonString(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
