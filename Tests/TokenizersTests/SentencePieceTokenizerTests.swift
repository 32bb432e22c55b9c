import GGUF
import TestSupport
import Testing

@testable import Tokenizers

/// A tiny SentencePiece vocabulary: byte tokens, a few scored pieces, one control token.
func tinySentencePiece(addSpacePrefix: Bool = false) throws -> SentencePieceTokenizer {
    var tokens = ["<unk>", "<s>", "</s>", "<ctl>"]
    var types: [TokenType] = [.unknown, .control, .control, .control]
    var scores: [Float] = [0, 0, 0, 0]
    for byte in 0..<256 {
        tokens.append("<0x" + String(byte, radix: 16, uppercase: true).leftPadded(2) + ">")
        types.append(.byte)
        scores.append(0)
    }
    for (piece, score) in [
        ("▁", -1), ("h", -2), ("e", -2), ("l", -2), ("o", -2), ("he", -3), ("ll", -1), ("hell", -4), ("hello", -5),
        ("▁w", -6),
    ] as [(String, Float)] {
        tokens.append(piece)
        types.append(.normal)
        scores.append(score)
    }
    return try SentencePieceTokenizer(
        tokens: tokens,
        types: types,
        scores: scores,
        specialIDs: SpecialTokens(bos: 1, eos: 2, unknown: 0),
        spacePrefix: addSpacePrefix ? .sentencePiece : .none
    )
}

@Suite struct SentencePieceTokenizerTests {
    @Test func mergesHighestScoreFirstWithByteFallback() throws {
        let t = try tinySentencePiece()
        let ids = t.encode("hello wé")
        #expect(ids.map { t.tokens[$0] } == ["hello", "▁w", "<0xC3>", "<0xA9>"])
        #expect(t.decode(ids) == "hello wé")
        #expect(t.encode("<ctl>hello").first == 3)
        #expect(t.decode(t.encode("<ctl>hi"), renderSpecial: false) == "hi")
        let prefixed = try tinySentencePiece(addSpacePrefix: true)
        #expect(prefixed.encode("hello").map { prefixed.tokens[$0] }.first == "▁")
        #expect(prefixed.encode("").isEmpty, "empty text has no fragment to prefix (llama.cpp)")
    }

    @Test(.tags(.realModel), .needsRealModels) func gemmaMatchesLlamaCppOnTheCorpus() async throws {
        let gguf = try GGUFFile(path: try await TestModels.gemma3())
        let tokenizer = try makeTokenizer(gguf: gguf)
        #expect(tokenizer is SentencePieceTokenizer)
        let cases = tokenizerFixture.cases.filter { $0.pre == "gemma3-spm" }
        #expect(cases.count == 34)
        for c in cases {
            let ids = tokenizer.encode(c.text)
            #expect(ids == c.ids, "\(c.text.prefix(50).debugDescription)")
            #expect(tokenizer.decode(ids) == c.text)
        }
    }
}
