import Foundation
import GGUF
import TestSupport
import Testing

@testable import Tokenizers

/// A tiny byte-level vocabulary: the 256 byte tokens, a few merges, two special tokens.
func tinyTokenizer(pre: PreTokenizer = .gpt2) throws -> BPETokenizer {
    var tokens = (0..<256).map { String(ByteLevel.byteToScalar[$0]) }
    var types = [TokenType](repeating: .normal, count: 256)
    let merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o", "Ġwo r", "Ġwor l", "Ġworl d", "l o"]
    for merge in merges {
        tokens.append(merge.replacingOccurrences(of: " ", with: ""))
        types.append(.normal)
    }
    tokens += ["<|im_start|>", "<|im_end|>"]
    types += [.control, .control]
    return try BPETokenizer(
        tokens: tokens,
        types: types,
        merges: merges,
        preTokenizer: pre,
        specialIDs: SpecialTokens(bos: 266, eos: 267)
    )
}

/// SmolLM2's vocabulary with another pre-tokenizer rule, as llama.cpp's kv_overrides gives it.
func realTokenizer(pre: PreTokenizer, path: String) throws -> BPETokenizer {
    let gguf = try GGUFFile(path: path)
    return try BPETokenizer(
        tokens: gguf["tokenizer.ggml.tokens"]!.strings!,
        types: gguf["tokenizer.ggml.token_type"]!.ints!.map { TokenType(rawValue: $0)! },
        merges: gguf["tokenizer.ggml.merges"]!.strings!,
        preTokenizer: pre,
        specialIDs: SpecialTokens(gguf: gguf)
    )
}

@Suite struct BPETokenizerTests {
    @Test func mergesByRankAndRoundTrips() throws {
        let t = try tinyTokenizer()
        let ids = t.encode("hello world")
        #expect(ids.map { t.tokens[$0] } == ["hello", "Ġworld"])
        #expect(t.decode(ids) == "hello world")
        // Bytes with no merge stay single byte tokens; multi-byte characters round-trip.
        let text = "hé 😀 lo\n\tx"
        #expect(t.decode(t.encode(text)) == text)
    }

    @Test func specialTokensAreParsedOnlyWhenAsked() throws {
        let t = try tinyTokenizer()
        let ids = t.encode("<|im_start|>hello<|im_end|>")
        #expect(ids.first == 266 && ids.last == 267)
        #expect(t.encode("<|im_start|>", parseSpecial: false).count == 12)
        #expect(t.decode(ids, renderSpecial: false) == "hello")
        #expect(t.encode("hello", addBOS: true).first == 266)
    }

    /// User-defined tokens (GPT-NeoX's runs of spaces) are split out even without special-token parsing,
    /// as llama.cpp's `tokenizer_st_partition` and Hugging Face do; control tokens only with it.
    @Test func userDefinedTokensAreAlwaysSplitOut() throws {
        let base = try tinyTokenizer()
        let t = try BPETokenizer(
            tokens: base.tokens + ["  "],
            types: base.types + [.userDefined],
            merges: ["h e", "l l", "he ll", "hell o"],
            preTokenizer: .gpt2,
            specialIDs: base.specialIDs
        )
        let spaces = base.tokens.count
        #expect(t.encode("hello  hello", parseSpecial: false) == [t.encode("hello")[0], spaces, t.encode("hello")[0]])
        #expect(t.encode("<|im_start|>", parseSpecial: false).count == 12)
    }

    @Test func preTokenizerRules() throws {
        func words(_ pre: PreTokenizer, _ text: String) -> [String] {
            let scalars = Array(text.unicodeScalars)
            return pre.split(scalars).map { String(String.UnicodeScalarView(scalars[$0])) }
        }
        #expect(words(.gpt2, "it's  a 123 test!!") == ["it", "'s", " ", " a", " 123", " test", "!!"])
        #expect(words(.smollm, "ab 123") == ["ab", " ", "1", "2", "3"])
        #expect(words(.llama3, "I'M 12345\n\n x") == ["I", "'M", " ", "123", "45", "\n\n", " x"])
        #expect(PreTokenizer(ggufName: "llama3") == .llama3)
        #expect(words(.qwen2, "I'M 12345\n\n x") == ["I", "'M", " ", "1", "2", "3", "4", "5", "\n\n", " x"])
        #expect(words(.falcon, "x=1234567;") == ["x", "=", "123", "456", "7", ";"])
        #expect(PreTokenizer(ggufName: "mpt") == .gpt2 && PreTokenizer(ggufName: "starcoder") == .smollm)
        #expect(PreTokenizer(ggufName: "qwen-next") == nil)
    }

    @Test func badVocabulariesAreRefused() {
        #expect(throws: TokenizerError.self) {
            try BPETokenizer(tokens: ["a"], types: [], merges: [], preTokenizer: .gpt2, specialIDs: SpecialTokens())
        }
        #expect(throws: TokenizerError.self) {
            try BPETokenizer(
                tokens: ["a"],
                types: [.normal],
                merges: [],
                preTokenizer: .gpt2,
                specialIDs: SpecialTokens(eos: 5)
            )
        }
        #expect(throws: TokenizerError.self) {
            try BPETokenizer(
                tokens: ["a"],
                types: [.normal],
                merges: ["ab"],
                preTokenizer: .gpt2,
                specialIDs: SpecialTokens()
            )
        }
    }

    @Test func incrementalDecodingNeverSplitsACharacter() throws {
        let t = try tinyTokenizer()
        let text = "a😀bé中"
        let ids = t.encode(text)  // one token per byte here: characters arrive split across tokens
        #expect(ids.count == text.utf8.count)
        var decoder = IncrementalDecoder(tokenizer: t)
        var pieces: [String] = []
        for id in ids { pieces.append(decoder.append(id)) }
        pieces.append(decoder.flush())
        #expect(pieces.joined() == text)
        #expect(pieces.filter { !$0.isEmpty } == ["a", "😀", "b", "é", "中"])
        var broken = IncrementalDecoder(tokenizer: t)
        #expect(broken.append(Int(t.byteTokens[0xF0])) == "")
        #expect(broken.append(Int(t.byteTokens[0x41])) == "\u{FFFD}A")
    }

    @Test(.tags(.realModel), .needsRealModels, arguments: ["smollm", "gpt-2", "llama-bpe"])
    func matchesLlamaCppOnTheCorpus(pre: String) async throws {
        let tokenizer = try realTokenizer(pre: PreTokenizer(ggufName: pre)!, path: try await TestModels.smollm2())
        let cases = tokenizerFixture.cases.filter { $0.pre == pre }
        #expect(cases.count == 34)
        for c in cases {
            let ids = tokenizer.encode(c.text)
            #expect(ids == c.ids, "\(pre): \(c.text.prefix(50).debugDescription)")
            #expect(tokenizer.decode(ids) == c.text)
        }
    }

    @Test(.tags(.realModel), .needsRealModels) func pikaRequestIs428Tokens() async throws {
        let path = try await TestModels.smollm2()
        let gguf = try GGUFFile(path: path)
        let tokenizer = try BPETokenizer(gguf: gguf)
        let template = try ChatTemplate(gguf["tokenizer.chat_template"]!.string!)
        let request = tokenizerFixture.pika.request
        let prompt = try template.render(
            messages: try JinjaValue(json: request)["messages"],
            addGenerationPrompt: true,
            bosToken: "<|im_start|>",
            eosToken: "<|im_end|>"
        )
        #expect(prompt == tokenizerFixture.pika.rendered)
        let ids = tokenizer.encode(prompt)
        #expect(ids.count == 428)
        #expect(ids == tokenizerFixture.pika.ids)
    }
}
