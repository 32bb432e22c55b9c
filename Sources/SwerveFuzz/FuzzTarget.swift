import Foundation
import GGUF
import Grammar
import Models
import OpenAIAPI
import SwerveCore

@testable import Server
@testable import Tokenizers

/// libFuzzer harnesses for every parser a request or a model file reaches, one binary for all (built only
/// with `SWERVE_FUZZ=1`, by `scripts/fuzz`, with `-sanitize=fuzzer,address`); `SWERVE_FUZZ_TARGET` picks the
/// harness. Each feeds the input to the same entry point the server uses and accepts any thrown error: what
/// a harness finds is a crash, a hang, or a memory error, never a refusal. Written here because no kept
/// library fuzzes Swift code for us; libFuzzer itself comes with the Swift toolchain.
enum FuzzTarget: String, CaseIterable {
    case json, request, gguf, safetensors, schema, regex, gbnf, jinja, tokenizer

    static let selected: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["SWERVE_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            FileHandle.standardError.write(Data("set SWERVE_FUZZ_TARGET to one of: \(names)\n".utf8))
            exit(2)
        }
        return target
    }()

    /// Every byte, and an end-of-sequence token: what grammars compile against.
    static let vocabulary = TokenVocabulary(tokenBytes: (0..<256).map { [UInt8($0)] } + [[]], endOfSequence: [256])

    /// A byte-level BPE vocabulary with a few merges, as SmolLM2's tokenizer is built.
    static let bpe: BPETokenizer = {
        let bytes = ByteLevel.byteToScalar.map { String($0) }
        let merges = ["h e", "l l", "he ll", "o Ġ", "Ġ w", "Ġw o", "r l", "Ġwo rl"]
        let tokens = bytes + ["he", "ll", "hell", "oĠ", "Ġw", "Ġwo", "rl", "Ġworl", "<|im_start|>", "<|im_end|>"]
        let types = Array(repeating: TokenType.normal, count: tokens.count - 2) + [.control, .control]
        return try! BPETokenizer(
            tokens: tokens,
            types: types,
            merges: merges,
            preTokenizer: .smollm,
            specialIDs: SpecialTokens(eos: tokens.count - 1)
        )
    }()

    func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .json:
            _ = try? JSONValue.parse(bytes: bytes)
        case .request:
            guard let json = try? JSONValue.parse(bytes: bytes) else { return }
            if let request = try? JSONValueDecoder().decode(CompletionRequest.self, from: json) {
                let parameters = try? request.parameters(
                    promptTokens: 5,
                    maxTokens: request.max_tokens,
                    logprobs: request.logprobs,
                    maxModelLen: 2048,
                    promptField: "prompt"
                )
                try? parameters?.validate(vocabularySize: 1000)
                _ = try? request.constraintSpec { json }
            }
            if let request = try? JSONValueDecoder().decode(ChatCompletionRequest.self, from: json) {
                _ = try? request.constraintSpec { json }
            }
        case .gguf:
            guard let file = try? GGUFFile(bytes: bytes) else { return }
            _ = file.tensors.count
        case .safetensors:
            guard let file = try? SafetensorsFile(bytes: bytes, path: "fuzz.safetensors") else { return }
            for name in file.tensors.keys { _ = file.floats(name) }
        case .schema:
            _ = try? StructuredConstraint(.jsonSchema(text), vocabulary: Self.vocabulary, timeLimit: 1)
        case .regex:
            guard let matcher = try? RegexMatcher(text) else { return }
            _ = matcher.matchesWhole("abc123") || matcher.matchesSomewhere("x y\nz")
            // The grammar it compiles to, without the first token mask (the schema and GBNF harnesses cover
            // masks; here it would cost 20× the parse).
            if let grammar = try? Regex.grammar(text) { _ = try? CompiledGrammar(grammar) }
        case .gbnf:
            _ = try? StructuredConstraint(.grammar(text), vocabulary: Self.vocabulary, timeLimit: 1)
        case .jinja:
            guard let template = try? ChatTemplate(text) else { return }
            let message = JinjaValue.object(JinjaObject([("role", .string("user")), ("content", .string("hi"))]))
            _ = try? template.render(messages: .array([message]), addGenerationPrompt: true)
        case .tokenizer:
            let ids = Self.bpe.encode(text, parseSpecial: true, addBOS: false)
            _ = ids.flatMap { Self.bpe.bytes(of: $0, renderSpecial: true) }
        }
    }
}

/// libFuzzer's entry point for one input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    FuzzTarget.selected.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// `main` hands the command line to libFuzzer's driver (SwiftPM names every executable's entry point, so
/// libFuzzer's own `main` cannot be the program's).
@main
enum SwerveFuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
    }
}
