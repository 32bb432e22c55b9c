import CPUBackend
import Foundation
import GGUF
import SwerveCore
import TestSupport
import Testing

@testable import Engine

/// `--speculative-config` with `draft_model`: a second model of the served model's vocabulary drafts
/// greedily from its own paged KV cache, and nothing any request gets changes; a draft model that cannot
/// load or has another vocabulary is refused at startup, naming the file.
@Suite struct DraftModelTests {
    /// The synthetic model's bytes written once to a temporary file (a draft model is named by path).
    static func file(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swerve-\(getpid())-\(name)").path
        if !FileManager.default.fileExists(atPath: path) {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        }
        return path
    }

    /// The served model drafting for itself: every draft the same model would sample greedily.
    static func selfDraft(_ tokens: Int = 4) throws -> SpeculativeConfig {
        try SpeculativeConfig(
            draftModel: try file(SyntheticModel.llamaBytes(), "llama.gguf"),
            numSpeculativeTokens: tokens
        )
    }

    @Test(arguments: [1, 32])
    func draftsChangeNoTokenOfGreedyOrSeededDecoding(count: Int) throws {
        let prompts = SpeculativeDecodingTests.repeatingPrompts(count, vocabulary: 96)
        for parameters in [
            SamplingParameters(maxTokens: 30, ignoreEOS: true),
            SamplingParameters(temperature: 1, seed: 3, maxTokens: 30, ignoreEOS: true),
        ] {
            let plain = try EngineCoreTests.engine(.llama)
            let expected = try EngineCoreTests.run(plain, prompts, parameters)
            let drafted = try EngineCoreTests.engine(.llama, speculative: Self.selfDraft(), maxSpeculativeBatch: 64)
            let results = try EngineCoreTests.run(drafted, prompts, parameters)
            for i in prompts.indices { #expect(results["\(i)"]?.0 == expected["\(i)"]?.0, "request \(i) of \(count)") }
            let stats = drafted.stats
            #expect(stats.draftTokens > 0)
            if parameters.temperature == 0 {
                // The same weights on the same backend: greedy drafts are what the target picks.
                #expect(
                    stats.acceptedDraftTokens * 10 >= stats.draftTokens * 9,
                    "\(stats.acceptedDraftTokens) of \(stats.draftTokens)"
                )
                #expect(stats.steps * 2 < plain.stats.steps, "\(stats.steps) vs \(plain.stats.steps) steps")
            }
        }
    }

    /// Constrained answers: the draft model's guesses follow jump-forward's forced text, cut where the
    /// grammar forbids; every answer is what jump-forward alone gives, 32 requests verified together.
    @Test func constrainedAnswersAreUnchanged() throws {
        let jumpOnly = try StructuredOutputEngineTests.engine()
        let drafted = try StructuredOutputEngineTests.engine(speculative: Self.selfDraft())
        let schema = StructuredOutputEngineTests.schemas[1]
        let a = try jumpOnly.constraints.constraint(.jsonSchema(schema))
        let b = try drafted.constraints.constraint(.jsonSchema(schema))
        let expected = try StructuredOutputEngineTests.run(
            jumpOnly,
            (0..<32).map { StructuredOutputEngineTests.request($0, a) }
        )
        let results = try StructuredOutputEngineTests.run(
            drafted,
            (0..<32).map { StructuredOutputEngineTests.request($0, b) }
        )
        for (id, answer) in expected.answers {
            #expect(results.answers[id]?.tokens == answer.tokens, "\(id)")
            #expect(results.answers[id]?.violation == nil)
        }
        #expect(drafted.stats.draftTokens > jumpOnly.stats.draftTokens)
        #expect(drafted.stats.acceptedDraftTokens > jumpOnly.stats.acceptedDraftTokens)
    }

    /// Slots reuse the KV of a sequence's earlier proposals and are evicted when blocks run out: whatever
    /// the order, a proposal is what a fresh proposer computes from nothing.
    @Test func slotsReuseAndEvictWithoutChangingAProposal() throws {
        let target = try SyntheticModel.llama()
        let backend = CPUBackend(threads: 2)
        let config = try Self.selfDraft(3)
        // Two blocks of 16 positions: `a` takes both, so switching between `a` and `b` evicts.
        let proposer = try DraftModelProposer(
            config,
            target: target,
            backend: backend,
            maxModelLen: 16,
            maxSequences: 1
        )
        var random = SeededRandom(seed: 5)
        let a = (0..<20).map { _ in Int32.random(in: 1..<96, using: &random) }
        let b = (0..<11).map { _ in Int32.random(in: 1..<96, using: &random) }
        for history in [a, b, a + [7, 8], a + [7, 8, 9], b + [1], Array(a.prefix(5)), a + [7, 8, 9, 10]] {
            let fresh = try DraftModelProposer(config, target: target, backend: backend, maxModelLen: 64)
            #expect(proposer.propose(history, limit: 3) == fresh.propose(history, limit: 3))
        }
        proposer.finished(a + [7, 8, 9, 10], promptLength: 20)
        #expect(proposer.slots.allSatisfy { $0.blocks.isEmpty } && proposer.freeBlocks.count == 2)
        // Past the pool's room: no draft, and no block kept.
        #expect(proposer.propose(Array(repeating: 3, count: 40), limit: 3).isEmpty)
        #expect(proposer.freeBlocks.count == 2)
    }

    @Test func aDraftModelThatCannotLoadOrHasAnotherVocabularyIsRefused() throws {
        let gemma = try Self.file(SyntheticModel.gemma3Bytes(), "gemma3.gguf")
        let missing = "/nonexistent/draft.gguf"
        let malformed = try Self.file(Array("GGUF not really".utf8), "malformed.gguf")
        for (path, message) in [
            (gemma, "must share the served model's vocabulary"), (missing, "draft model '\(missing)' cannot load"),
            (malformed, "draft model '\(malformed)' cannot load"),
        ] {
            let config = try SpeculativeConfig(draftModel: path, numSpeculativeTokens: 3)
            do {
                _ = try EngineCoreTests.engine(.llama, speculative: config)
                Issue.record("accepted \(path)")
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
    }
}
