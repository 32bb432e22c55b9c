import Foundation
import GGUF
import TestSupport
import Testing
import Tokenizers

/// llama.cpp's own tokenizer test (`test-tokenizer-0`) on its vocabulary-only files
/// (`models/ggml-vocab-*.gguf`, fetched by `scripts/llama-vocabs`): each `.inp` case, tokenized without
/// special-token parsing or BOS, must give the `.out` ids, which Hugging Face `tokenizers` wrote.
@Suite(.tags(.realModel), .needsRealModels) struct LlamaVocabularyTests {
    /// One vocabulary's cases: inputs split on `\n__ggml_vocab_test__\n`, one line of ids per input.
    struct Cases {
        var inputs: [String]
        var ids: [[Int]]

        init(folder: String, vocabulary: String) throws {
            let base = URL(fileURLWithPath: folder).appendingPathComponent("ggml-vocab-\(vocabulary).gguf").path
            let raw = try String(contentsOfFile: base + ".inp", encoding: .utf8)
            inputs = raw.components(separatedBy: "\n__ggml_vocab_test__\n")
            // The file ends with a separator, which closes the last case rather than opening one.
            if raw.hasSuffix("\n__ggml_vocab_test__\n") { inputs.removeLast() }
            let lines = try String(contentsOfFile: base + ".out", encoding: .utf8).split(
                separator: "\n",
                omittingEmptySubsequences: false
            )
            ids = lines.prefix(inputs.count).map { $0.split(separator: " ").map { Int($0)! } }
        }
    }

    static func tokenizer(_ folder: String, _ vocabulary: String) throws -> any Tokenizer {
        let path = URL(fileURLWithPath: folder).appendingPathComponent("ggml-vocab-\(vocabulary).gguf").path
        return try makeTokenizer(gguf: GGUFFile(path: path))
    }

    @Test(arguments: [
        "command-r", "deepseek-coder", "deepseek-llm", "falcon", "gpt-2", "llama-bpe", "llama-spm", "mpt", "phi-3",
        "qwen2", "qwen35", "refact", "starcoder",
    ])
    func everyCaseGivesTheReferenceIDs(vocabulary: String) async throws {
        let folder = try await TestModels.llamaVocabularies()
        let tokenizer = try Self.tokenizer(folder, vocabulary)
        let cases = try Cases(folder: folder, vocabulary: vocabulary)
        #expect(cases.inputs.count == cases.ids.count && cases.inputs.count > 20)
        var failed: [String] = []
        for (input, expected) in zip(cases.inputs, cases.ids) {
            let ids = tokenizer.encode(input, parseSpecial: false, addBOS: false)
            if ids != expected { failed.append("\(input.debugDescription): \(ids) != \(expected)") }
        }
        #expect(
            failed.isEmpty,
            "\(vocabulary): \(failed.count) of \(cases.inputs.count) differ:\n\(failed.joined(separator: "\n"))"
        )
    }

    /// The vocabularies without cases load and round-trip text; those of tokenizer models Swerve lacks
    /// (WordPiece, Unigram, Gemma 4's SentencePiece-style BPE) are refused naming the model.
    @Test func theOtherVocabulariesLoadOrAreRefusedNamingTheModel() async throws {
        let folder = try await TestModels.llamaVocabularies()
        for vocabulary in ["aquila", "gpt-neox", "baichuan"] {
            let tokenizer = try Self.tokenizer(folder, vocabulary)
            let text = "Hello world, 12345 héllo"
            let ids = tokenizer.encode(text, parseSpecial: false, addBOS: false)
            #expect(!ids.isEmpty && tokenizer.decode(ids).hasSuffix(text), "\(vocabulary): \(ids)")
        }
        for (vocabulary, model) in [("gemma-4", "gemma4"), ("bert-bge", "bert"), ("nomic-bert-moe", "t5")] {
            #expect(throws: TokenizerError.unsupportedModel(model)) { try Self.tokenizer(folder, vocabulary) }
        }
    }

    /// `swerve tokenize` reads a file with no weights and no architecture Swerve serves (Qwen2's vocabulary).
    @Test func swerveTokenizeTakesAVocabularyOnlyFile() async throws {
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        let folder = try await TestModels.llamaVocabularies()
        let cases = try Cases(folder: folder, vocabulary: "qwen2")
        // The longest case: code, emoji, CJK, runs of spaces and newlines.
        let index = try #require(cases.inputs.indices.max { cases.inputs[$0].utf8.count < cases.inputs[$1].utf8.count })
        let file = URL(fileURLWithPath: folder).appendingPathComponent("ggml-vocab-qwen2.gguf").path
        let (status, output) = try await Subprocess.run(swerve, ["tokenize", "--model", file, cases.inputs[index]])
        #expect(status == 0, "\(output)")
        #expect(
            output.trimmingCharacters(in: .whitespacesAndNewlines)
                == "[\(cases.ids[index].map(String.init).joined(separator: ","))]"
        )
    }
}
