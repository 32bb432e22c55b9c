import Foundation
import GGUF
import Models
import SwerveCore
import TestSupport
import Testing

@testable import Tokenizers

/// `PromptEncoder.fewestTokens`, the bound the server refuses over-long prompts with before tokenizing them:
/// never more than the tokens a text really encodes to, on synthetic vocabularies and on the real models'.
@Suite struct PromptEncoderTests {
    /// Texts that press the bound: runs of the vocabulary's longest tokens, whitespace runs, mixed scripts.
    static func texts(_ encoder: PromptEncoder) -> [String] {
        let tokenizer = encoder.tokenizer
        let longest = (0..<tokenizer.vocabularySize)
            .map { String(decoding: tokenizer.bytes(of: $0, renderSpecial: false), as: UTF8.self) }
            .sorted { $0.utf8.count > $1.utf8.count }
            .prefix(8)
        var random = SplitMix64(seed: 7)
        let alphabet = Array("abc XYZ 012\n\t  {\"}:,é漢🙂")
        let noise = String((0..<4000).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
        return longest.map { String(repeating: $0, count: 50) } + [
            longest.joined(), String(repeating: " ", count: 5000), String(repeating: "\n", count: 3000), noise,
            "Hello, world! " + String(repeating: "ab", count: 700), "a", "\u{4}\u{6}\u{13}\u{14}\u{16}\u{1D}\u{40000}",
            String(repeating: "\u{4}x", count: 300),
        ]
    }

    static func expectBound(_ encoder: PromptEncoder) {
        for text in texts(encoder) {
            let tokens = encoder.text(text, addSpecialTokens: false).count
            let fewest = encoder.fewestTokens(text)
            #expect(fewest <= tokens, "\(fewest) > \(tokens) for \(text.prefix(40).debugDescription)")
        }
    }

    @Test func aByteLevelVocabularyBoundsByItsLongestToken() throws {
        var tokens = (0..<256).map { String(ByteLevel.byteToScalar[$0]) }
        let merges = ["Ġ Ġ", "ĠĠ ĠĠ", "ĠĠĠĠ ĠĠĠĠ", "a b", "ab ab"]
        tokens += merges.map { $0.replacingOccurrences(of: " ", with: "") }
        let tokenizer = try BPETokenizer(
            tokens: tokens,
            types: [TokenType](repeating: .normal, count: tokens.count),
            merges: merges,
            preTokenizer: .gpt2,
            specialIDs: SpecialTokens()
        )
        let encoder = PromptEncoder(tokenizer: tokenizer, chatTemplate: nil)
        #expect(encoder.longestTokenBytes == 8)
        #expect(encoder.fewestTokens(String(repeating: "x", count: 81)) == 11)
        #expect(encoder.fewestTokens("") == 0)
        Self.expectBound(encoder)
    }

    @Test func bytesAVocabularyMayDropAreNotCounted() {
        // LetterTokenizer has no single-byte tokens and skips what it has no token for.
        let encoder = PromptEncoder(tokenizer: LetterTokenizer(vocabularySize: 40), chatTemplate: nil)
        #expect(encoder.longestTokenBytes == 4)  // "</s>"
        #expect(encoder.fewestTokens(String(repeating: "?", count: 100_000)) == 0)
        #expect(encoder.text(String(repeating: "?", count: 100_000)).isEmpty)
    }

    @Test(.tags(.realModel), .needsRealModels) func theRealVocabulariesNeverOverstate() async throws {
        for path in [try await TestModels.smollm2(), try await TestModels.gemma3()] {
            let encoder = try ModelFile(path: path).prompts
            #expect(encoder.longestTokenBytes > 8 && encoder.longestTokenBytes < 200, "\(encoder.longestTokenBytes)")
            Self.expectBound(encoder)
        }
    }
}
