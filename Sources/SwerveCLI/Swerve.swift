import ArgumentParser
import Foundation
import GGUF
import Logging
import ModelStore
import Models
import SwerveCore
import Tokenizers

/// The `swerve` command: a thin layer of argument parsing over the libraries.
@main
struct Swerve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swerve",
        abstract: "An LLM inference server for small models, written in Swift.",
        subcommands: [Serve.self, Pull.self, Inspect.self, Tokenize.self, Generate.self, Bench.self, Tune.self]
    )
}

/// Options every command that names a model shares.
struct ModelOptions: ParsableArguments {
    @Option(
        name: .long,
        help:
            "A built-in model name, a GGUF path, a checkpoint directory, hf://owner/repo/file.gguf, or hf://owner/repo (a checkpoint repository; also owner/repo)."
    )
    var model: String = BuiltinModel.defaultModel.name

    @OptionGroup var weights: WeightOptions

    /// Opens the model `model` names (pulled first if absent), a checkpoint's matrices as `weights` says.
    func open(quiet: Bool = false) async throws -> ModelFile {
        try ModelFile(path: try await resolveModel(model, quiet: quiet), weights: weights.format)
    }
}

/// vLLM's `--dtype` and `--quantization`: how a float checkpoint's matrices are held (`WeightFormat`).
struct WeightOptions: ParsableArguments {
    @Option(
        help:
            "A float checkpoint's weight type in memory: auto (config.json's torch_dtype), float16, half, bfloat16, float32, float. A GGUF file keeps its own types; activations are float32."
    )
    var dtype = "auto"

    @Option(
        help:
            "On-load quantization of a float checkpoint's matrices: q8_0 or q4_0 (GGUF speed); gguf for a GGUF file's own types. Left out, a checkpoint's weights stay floats of --dtype."
    )
    var quantization: String?

    var format: WeightFormat { WeightFormat(dtype: dtype, quantization: quantization) }
}

/// Resolves a model name to a local file, pulling it (with progress on standard error) if absent.
func resolveModel(_ spec: String, quiet: Bool = false) async throws -> String {
    let store = ModelStore()
    if let path = try store.localPath(spec) { return path }
    return try await store.pull(spec, progress: ProgressReporter(style: quiet ? .silent : .automatic))
}

/// Prints `error` as a one-line message and exits non-zero, instead of a stack of Swift types.
func fail(_ error: Error) -> Never {
    FileHandle.standardError.write(Data("swerve: error: \(error)\n".utf8))
    exit(1)
}

struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch a model into the store ($SWERVE_HOME, default ~/.cache/swerve) and print its path."
    )

    @Argument(
        help:
            "A built-in model name (\(BuiltinModel.all.map(\.name).joined(separator: ", "))), a path, hf://owner/repo/file.gguf, or hf://owner/repo."
    )
    var model: String

    @Flag(help: "No progress output.")
    var quiet = false

    func run() async throws {
        do {
            print(try await resolveModel(model, quiet: quiet))
        } catch {
            fail(error)
        }
    }
}

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's architecture, sizes, tensor types, tokenizer, chat template and metadata."
    )

    @Argument(help: "A built-in model name, a GGUF path, or hf://owner/repo/file.gguf.")
    var model: String = BuiltinModel.defaultModel.name

    @Flag(help: "Also list every tensor.")
    var tensors = false

    func run() async throws {
        do {
            let path = try await resolveModel(model)
            print(try ModelReport(path: path).text(listTensors: tensors))
        } catch {
            fail(error)
        }
    }
}

struct Tokenize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Print the token ids of TEXT (special tokens parsed), or of a chat rendered through the model's template."
    )

    @OptionGroup var options: ModelOptions

    @Option(help: "A JSON file holding a list of messages, or an object with a 'messages' list (an OpenAI request).")
    var chat: String?

    @Flag(help: "Prepend BOS even if the model's metadata does not ask for it.")
    var addBos = false

    @Option(help: "Instead of printing ids, tokenize N times and print timing as JSON.")
    var benchmark: Int?

    @Argument(help: "Text to tokenize (omit with --chat).")
    var text: String?

    func validate() throws {
        guard (chat == nil) != (text == nil) else { throw ValidationError("give either TEXT or --chat FILE") }
    }

    func run() async throws {
        do {
            // The vocabulary alone: a file without weights (llama.cpp's ggml-vocab-*.gguf) tokenizes too.
            let model = try PromptEncoder(gguf: ModelFile.open(try await resolveModel(options.model)))
            var input = text ?? ""
            if let chat {
                let json = try JinjaValue(json: String(contentsOfFile: chat, encoding: .utf8))
                let messages = json["messages"] == .undefined ? json : json["messages"]
                input = try model.renderChat(messages, addGenerationPrompt: true)
            }
            let addBOS = addBos || model.tokenizer.specialIDs.addBOS
            if let benchmark {
                print(TokenizeBenchmark.run(model.tokenizer, input, addBOS: addBOS, iterations: max(1, benchmark)))
                return
            }
            let ids = model.tokenizer.encode(input, addBOS: addBOS)
            print("[" + ids.map(String.init).joined(separator: ",") + "]")
        } catch {
            fail(error)
        }
    }
}
