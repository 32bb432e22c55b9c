import CPUBackend
import Engine
import Foundation
import Models
import SwerveCore
import TestSupport
import Testing

@testable import Engine

/// `--speculative-config` with the `ngram` proposer: its configuration refused field by field, its lookup,
/// and drafts that change no token of what decoding without them gives (greedy and seeded, one sequence
/// and 32 verified in the same steps), counted as vLLM counts them.
@Suite struct SpeculativeDecodingTests {
    static let ngram = try! SpeculativeConfig(numSpeculativeTokens: 6, promptLookupMax: 3, promptLookupMin: 1)

    @Test func theConfigurationIsVLLMsJSON() throws {
        let config = try SpeculativeConfig(
            json: #"{"method":"ngram","num_speculative_tokens":5,"prompt_lookup_max":4,"prompt_lookup_min":2}"#
        )
        #expect(config == (try SpeculativeConfig(numSpeculativeTokens: 5, promptLookupMax: 4, promptLookupMin: 2)))
        // prompt_lookup_min defaults to prompt_lookup_max, as in vLLM.
        let single = try SpeculativeConfig(
            json: #"{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_max":4}"#
        )
        #expect(single.promptLookupMin == 4)
        #expect(single.disableByBatchSize == nil)
        let limited = try SpeculativeConfig(json: #"{"method":"suffix","disable_by_batch_size":3}"#)
        #expect(limited.disableByBatchSize == 3)
    }

    /// `disable_by_batch_size` (vLLM's): no drafts in a step with more running sequences than it.
    @Test func draftsStopPastDisableByBatchSize() throws {
        let prompts = Self.repeatingPrompts(3, vocabulary: try EngineCoreTests.vocabulary(.llama))
        let parameters = SamplingParameters(maxTokens: 20, ignoreEOS: true)
        var config = Self.ngram
        config.disableByBatchSize = 2
        let three = try EngineCoreTests.engine(speculative: config, maxSpeculativeBatch: 64)
        let expected = try EngineCoreTests.run(three, prompts, parameters)
        #expect(three.stats.draftTokens == 0, "three sequences, drafts only up to two")
        config.disableByBatchSize = 3
        let drafted = try EngineCoreTests.engine(speculative: config, maxSpeculativeBatch: 0)
        let results = try EngineCoreTests.run(drafted, prompts, parameters)
        #expect(drafted.stats.draftTokens > 0, "the configuration's limit replaces the engine's")
        for i in prompts.indices { #expect(results["\(i)"]?.0 == expected["\(i)"]?.0) }
    }

    @Test(arguments: [
        (#"{"method":"ngram","num_speculative_tokens":3"#, "not valid JSON"),
        (#"[1]"#, "a JSON object"),
        (#"{"num_speculative_tokens":3,"prompt_lookup_max":2}"#, "needs 'method'"),
        (#"{"method":"lookahead","num_speculative_tokens":3}"#, "method 'lookahead' is unknown"),
        (#"{"method":"eagle","num_speculative_tokens":3}"#, "method 'eagle' is not implemented"),
        (#"{"method":"draft_model","num_speculative_tokens":3}"#, "method 'draft_model' needs 'model'"),
        (#"{"method":"draft_model","model":"d.gguf"}"#, "needs 'num_speculative_tokens'"),
        (
            #"{"method":"draft_model","model":"d.gguf","num_speculative_tokens":3,"prompt_lookup_max":2}"#,
            "field 'prompt_lookup_max' is for method 'ngram', not 'draft_model'"
        ),
        (#"{"method":"ngram","prompt_lookup_max":2}"#, "needs 'num_speculative_tokens'"),
        (#"{"method":"ngram","num_speculative_tokens":3}"#, "needs 'prompt_lookup_max'"),
        (
            #"{"method":"ngram","num_speculative_tokens":0,"prompt_lookup_max":2}"#,
            "'num_speculative_tokens' must be in 1...64"
        ),
        (
            #"{"method":"ngram","num_speculative_tokens":65,"prompt_lookup_max":2}"#,
            "'num_speculative_tokens' must be in 1...64"
        ),
        (
            #"{"method":"ngram","num_speculative_tokens":"3","prompt_lookup_max":2}"#,
            "'num_speculative_tokens' must be an integer"
        ),
        (
            #"{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_max":2,"prompt_lookup_min":3}"#,
            "'prompt_lookup_max' (2) must be at least 'prompt_lookup_min' (3)"
        ),
        (
            #"{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_max":2,"prompt_lookup_min":0}"#,
            "'prompt_lookup_min' must be at least 1"
        ),
        (
            #"{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_max":2,"model":"x.gguf"}"#,
            "field 'model' is for method 'draft_model', not 'ngram'"
        ),
        (
            #"{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_max":2,"disable_by_batch_size":0}"#,
            "'disable_by_batch_size' must be at least 1"
        ),
    ])
    func badConfigurationsAreRefusedNamingTheField(json: String, message: String) {
        do {
            _ = try SpeculativeConfig(json: json)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test func theLongestRecurringSuffixProposesWhatFollowedItLast() {
        let proposer = NgramProposer(shortest: 1, longest: 3, count: 4)
        // "5 6 7" occurs at 1 and (most recently) at 6: the draft is what followed the latter.
        #expect(proposer.propose([9, 5, 6, 7, 1, 2, 5, 6, 7, 3, 4, 8, 5, 6, 7]) == [3, 4, 8, 5])
        // Only the last token recurs: a 1-gram match, the continuation cut at the end of the tokens.
        #expect(proposer.propose([4, 1, 2, 3, 4]) == [1, 2, 3, 4])
        #expect(proposer.propose([1, 2, 3, 1]) == [2, 3, 1])
        // Nothing recurs, or too short a suffix for `shortest`.
        #expect(proposer.propose([1, 2, 3, 4]).isEmpty)
        #expect(NgramProposer(shortest: 2, longest: 3, count: 4).propose([1, 2, 3, 2]).isEmpty)
        #expect(proposer.propose([7]).isEmpty && proposer.propose([]).isEmpty)
        // In a short loop the latest occurrence is cut by the end: the latest with `count` tokens after it wins.
        #expect(NgramProposer(shortest: 2, longest: 2, count: 3).propose([1, 2, 1, 2, 1, 2]) == [1, 2, 1])
        #expect(NgramProposer(shortest: 2, longest: 2, count: 9).propose([1, 2, 1, 2, 1, 2]) == [1, 2, 1, 2])
    }

    /// Prompts that repeat themselves (a run of 6 tokens three times, then other tokens), so prompt lookup
    /// has something to draft from, as an echoing model has.
    static func repeatingPrompts(_ count: Int, vocabulary: Int) -> [[Int32]] {
        var random = SeededRandom(seed: 11)
        return (0..<count).map { _ in
            let run = (0..<6).map { _ in Int32.random(in: 1..<Int32(vocabulary), using: &random) }
            let tail = (0..<Int.random(in: 1...8, using: &random)).map { _ in
                Int32.random(in: 1..<Int32(vocabulary), using: &random)
            }
            return run + run + tail + run
        }
    }

    @Test(arguments: EngineCoreTests.Model.allCases, [1, 32])
    func greedyOutputsAreUnchangedByDrafts(_ model: EngineCoreTests.Model, count: Int) throws {
        let prompts = Self.repeatingPrompts(count, vocabulary: try EngineCoreTests.vocabulary(model))
        let parameters = SamplingParameters(maxTokens: 40, ignoreEOS: true)
        let plain = try EngineCoreTests.engine(model)
        let expected = try EngineCoreTests.run(plain, prompts, parameters)
        // Drafts verified for every running sequence at once, not only in steps of 4 or fewer.
        let drafted = try EngineCoreTests.engine(model, speculative: Self.ngram, maxSpeculativeBatch: 64)
        let results = try EngineCoreTests.run(drafted, prompts, parameters)
        for i in prompts.indices {
            #expect(results["\(i)"]?.0 == expected["\(i)"]?.0, "request \(i) of \(count)")
            #expect(results["\(i)"]?.0.count == 40)
        }
        let stats = drafted.stats
        #expect(plain.stats.draftTokens == 0 && stats.drafts > 0 && stats.draftTokens > 0)
        #expect(stats.acceptedDraftTokens > 0, "prompt lookup drafted nothing the model confirmed")
        #expect(stats.steps < plain.stats.steps, "accepted drafts save steps: \(stats.steps) vs \(plain.stats.steps)")
        #expect(stats.acceptedDraftTokensByPosition.first ?? 0 <= stats.drafts)
        #expect(stats.acceptedDraftTokensByPosition.reduce(0, +) == stats.acceptedDraftTokens)
        #expect(
            zip(stats.acceptedDraftTokensByPosition, stats.acceptedDraftTokensByPosition.dropFirst()).allSatisfy {
                $0 >= $1
            }
        )
        #expect(drafted.stats.kvCacheUsage == 0)
    }

    @Test func theGatePausesAfterMissesAndDoublesThePause() {
        var gate = DraftGate()
        let fuse = gate.missesToPause
        func run(_ steps: Int, drafted: Int) -> [Bool] {
            (0..<steps).map { _ in gate.allows(drafted: drafted, accepted: 0) }
        }
        let pause = DraftGate.shortestPause
        // Rejected drafts keep drafting up to the fuse; the next pauses for `pause` steps (no drafts run then).
        #expect(run(fuse - 1, drafted: 3).allSatisfy { $0 })
        #expect(run(1, drafted: 3) == [false])
        #expect(run(pause, drafted: 0) == Array(repeating: false, count: pause - 1) + [true])
        // Another run of misses: twice the pause.
        #expect(run(fuse, drafted: 2) == Array(repeating: true, count: fuse - 1) + [false])
        #expect(run(2 * pause, drafted: 0) == Array(repeating: false, count: 2 * pause - 1) + [true])
        // Steps that ran no draft are not misses.
        #expect(run(3 * fuse, drafted: 0).allSatisfy { $0 })
        // One accepted token resets the count and the pause; the pause stops doubling at its longest.
        gate = DraftGate(misses: fuse - 1, pause: 64)
        #expect(gate.allows(drafted: 1, accepted: 1) && gate.pause == pause && gate.misses == 0)
        gate = DraftGate(misses: fuse - 1, pause: DraftGate.longestPause)
        #expect(!gate.allows(drafted: 1, accepted: 0) && gate.pause == DraftGate.longestPause)
        #expect(gate.paused == DraftGate.longestPause - 1)
    }

    /// Free sampling at a high temperature follows no n-gram of the prompt: the gate pauses the drafts the
    /// model keeps rejecting, and the tokens stay those of decoding without drafts, gate or no gate.
    @Test func rejectedDraftsArePaused() throws {
        let prompts = Self.repeatingPrompts(4, vocabulary: try EngineCoreTests.vocabulary(.llama))
        let parameters = SamplingParameters(temperature: 3, seed: 77, maxTokens: 120, ignoreEOS: true)
        let expected = try EngineCoreTests.run(try EngineCoreTests.engine(), prompts, parameters)
        let gated = try EngineCoreTests.engine(speculative: Self.ngram, maxSpeculativeBatch: 64)
        let ungated = try EngineCoreTests.engine(speculative: Self.ngram, maxSpeculativeBatch: 64)
        ungated.draftGate = DraftGate(missesToPause: .max)
        for engine in [gated, ungated] {
            let results = try EngineCoreTests.run(engine, prompts, parameters)
            for i in prompts.indices { #expect(results["\(i)"]?.0 == expected["\(i)"]?.0, "request \(i)") }
        }
        let (paused, free) = (gated.stats, ungated.stats)
        #expect(paused.drafts > 0 && free.acceptedDraftTokens * 20 < free.draftTokens, "acceptance is low here")
        #expect(
            paused.draftTokens * 4 < free.draftTokens * 3,
            "\(paused.draftTokens) draft tokens with the gate, \(free.draftTokens) without"
        )
    }

    /// Sampling with drafts keeps the target distribution (a draft token is kept only when sampling at its
    /// row picks it, which for a proposer of single guesses is Leviathan et al.'s rejection sampling): the
    /// first three tokens of 10,000 seeded samples with drafts against 10,000 other seeds without, two-sample
    /// χ² per position at α = 0.001. The first drafted token is biased up so that drafts are often accepted
    /// and often rejected, where a wrong verification would show.
    @Test func sampledDraftsKeepTheTargetDistribution() throws {
        let prompt = Self.repeatingPrompts(1, vocabulary: try EngineCoreTests.vocabulary(.llama))[0]
        let guess = NgramProposer(shortest: 1, longest: 3, count: 6).propose(prompt)
        try #require(!guess.isEmpty)
        var parameters = SamplingParameters(temperature: 1, maxTokens: 3, ignoreEOS: true)
        func samples(_ engine: EngineCore, seeds: Range<UInt64>) throws -> [[Int32]] {
            var tokens: [String: [Int32]] = [:]
            // 32 at a time: every prompt and its first draft fit one step.
            for chunk in stride(from: seeds.lowerBound, to: seeds.upperBound, by: 32) {
                for seed in chunk..<min(chunk + 32, seeds.upperBound) {
                    parameters.seed = seed
                    try engine.add(EngineRequest(id: "\(seed)", prompt: prompt, parameters: parameters))
                }
                for output in engine.runToCompletion() { tokens[output.requestID, default: []] += output.tokenIDs }
            }
            return Array(tokens.values)
        }
        // The first drafted token biased up until the model samples it about half the time (so drafts are
        // both accepted and rejected often), found on 400 samples.
        let plainEngine = try EngineCoreTests.engine(maxNumBatchedTokens: 1024)
        let bias = try (0...16).first { bias in
            parameters.logitBias = [guess[0]: Float(bias)]
            let first = try samples(plainEngine, seeds: 100_000..<100_400).filter { $0[0] == guess[0] }.count
            return first >= 120
        }
        parameters.logitBias = [guess[0]: Float(try #require(bias))]
        let plain = try samples(plainEngine, seeds: 0..<10_000)
        let engine = try EngineCoreTests.engine(
            maxNumBatchedTokens: 1024,
            speculative: Self.ngram,
            maxSpeculativeBatch: .max
        )
        let drafted = try samples(engine, seeds: 10_000..<20_000)
        let stats = engine.stats
        #expect(stats.acceptedDraftTokens > 2_000, "\(stats.acceptedDraftTokens) of \(stats.draftTokens) accepted")
        #expect(stats.drafts - (stats.acceptedDraftTokensByPosition.first ?? 0) > 2_000, "drafts rejected whole")
        for position in 0..<3 {
            let (statistic, critical) = Self.chiSquared(
                plain.map { $0[position] },
                drafted.map { $0[position] }
            )
            #expect(statistic < critical, "token \(position + 1): χ² \(statistic) ≥ \(critical)")
        }
    }

    /// The two-sample χ² statistic of two equally sized samples of tokens (tokens seen fewer than 10 times
    /// in both pooled into one category), and its critical value at α = 0.001 (Wilson–Hilferty).
    static func chiSquared(_ a: [Int32], _ b: [Int32]) -> (statistic: Double, critical: Double) {
        var counts: [Int32: (Double, Double)] = [:]
        for token in a { counts[token, default: (0, 0)].0 += 1 }
        for token in b { counts[token, default: (0, 0)].1 += 1 }
        var bins: [(Double, Double)] = []
        var rare = (0.0, 0.0)
        for (x, y) in counts.values {
            if x + y >= 10 { bins.append((x, y)) } else { rare = (rare.0 + x, rare.1 + y) }
        }
        if rare.0 + rare.1 > 0 { bins.append(rare) }
        let statistic = bins.reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) / ($1.0 + $1.1) }
        let df = Double(max(bins.count - 1, 1))
        let z = 3.0902  // the standard normal's 0.999 quantile
        let critical = df * pow(1 - 2 / (9 * df) + z * (2 / (9 * df)).squareRoot(), 3)
        return (statistic, critical)
    }

    @Test func seededSamplingIsUnchangedByDrafts() throws {
        let prompts = Self.repeatingPrompts(6, vocabulary: try EngineCoreTests.vocabulary(.llama))
        let parameters = SamplingParameters(temperature: 0.7, seed: 1234, maxTokens: 30, ignoreEOS: true)
        let expected = try EngineCoreTests.run(try EngineCoreTests.engine(), prompts, parameters)
        let drafted = try EngineCoreTests.engine(speculative: Self.ngram, maxSpeculativeBatch: 64)
        let results = try EngineCoreTests.run(drafted, prompts, parameters)
        for i in prompts.indices { #expect(results["\(i)"]?.0 == expected["\(i)"]?.0, "request \(i)") }
        #expect(drafted.stats.draftTokens > 0)
        // And a request alone gets what it got beside the others.
        let alone = try EngineCoreTests.run(
            try EngineCoreTests.engine(speculative: Self.ngram, maxSpeculativeBatch: 64),
            [prompts[2]],
            parameters
        )
        #expect(alone["0"]?.0 == expected["2"]?.0)
    }
}

/// The `suffix` method: its configuration, a cache of finished outputs that drafts what they continued
/// with and forgets what it evicts, and drafts (after jump-forward's, for constrained answers) that change
/// no token.
@Suite struct SuffixDecodingTests {
    @Test func theConfigurationHasVLLMsFieldsAndDefaults() throws {
        let config = try SpeculativeConfig(json: #"{"method":"suffix"}"#)
        #expect(config.method == .suffix && config.numSpeculativeTokens == 24 && config.suffixMaxTreeDepth == 24)
        #expect(config.suffixMaxCachedRequests == 10_000 && config.suffixMaxSpecFactor == 1.0)
        #expect(config.suffixMinTokenProbability == 0.1)
        let tuned = try SpeculativeConfig(
            json: #"""
                {"method":"suffix","num_speculative_tokens":8,"suffix_decoding_max_tree_depth":12,
                "suffix_decoding_max_cached_requests":5,"suffix_decoding_max_spec_factor":2,
                "suffix_decoding_min_token_prob":0.3}
                """#
        )
        #expect(tuned.numSpeculativeTokens == 8 && tuned.suffixMaxTreeDepth == 12)
        #expect(tuned.suffixMaxCachedRequests == 5 && tuned.suffixMaxSpecFactor == 2)
        #expect(tuned.suffixMinTokenProbability == 0.3)
        for (json, message) in [
            (#"{"method":"suffix","prompt_lookup_max":3}"#, "'prompt_lookup_max' is for method 'ngram'"),
            (
                #"{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_max":2,"suffix_decoding_max_tree_depth":4}"#,
                "'suffix_decoding_max_tree_depth' is for method 'suffix'"
            ),
            (
                #"{"method":"suffix","suffix_decoding_min_token_prob":1.5}"#,
                "'suffix_decoding_min_token_prob' must be in"
            ),
            (#"{"method":"suffix","suffix_decoding_max_tree_depth":0}"#, "'suffix_decoding_max_tree_depth' must be in"),
            (#"{"method":"suffix","suffix_decoding_max_spec_factor":"x"}"#, "must be a number"),
        ] {
            #expect(throws: EngineError.self, "\(json)") { try SpeculativeConfig(json: json) }
            do { _ = try SpeculativeConfig(json: json) } catch {
                #expect(error.description.contains(message), "\(error.description)")
            }
        }
    }

    @Test func finishedOutputsAreDraftedAndEvictedOnesForgotten() throws {
        let proposer = SuffixProposer(try SpeculativeConfig(maxCachedRequests: 2, minTokenProbability: 0.4))
        // Two answers after the same prompt end (7 8), the same first three tokens, then they differ.
        proposer.finished([1, 2, 7, 8, 40, 41, 42, 43], promptLength: 4)
        proposer.finished([3, 4, 7, 8, 40, 41, 42, 50], promptLength: 4)
        // A new prompt ending the same way: the common part is drafted; 43 or 50 (half each) passes 0.4 at
        // first, but the matched context (7 8 40 41 42: 5 tokens) bounds the draft at 5 with spec factor 1.
        #expect(proposer.propose([9, 7, 8], limit: 64) == [40, 41])
        #expect(proposer.propose([9, 7, 8, 40, 41], limit: 64) == [42, 43])
        #expect(proposer.propose([9, 7, 8, 40, 41], limit: 1) == [42])
        // A third answer evicts the first: 43 is no longer counted after 42.
        proposer.finished([5, 6, 7, 8, 40, 41, 42, 50], promptLength: 4)
        #expect(proposer.cachedCount == 2)
        #expect(proposer.propose([9, 7, 8, 40, 41], limit: 64) == [42, 50])
        // Unknown context: the sequence's own tokens are looked up instead (2-grams and longer).
        #expect(proposer.propose([60, 61, 62, 60, 61], limit: 4) == [62, 60, 61])
        #expect(proposer.propose([70, 71], limit: 4).isEmpty)
    }

    @Test func evictingEverythingEmptiesTheCounts() throws {
        let proposer = SuffixProposer(try SpeculativeConfig(maxCachedRequests: 0))
        proposer.finished([1, 2, 3, 4, 5], promptLength: 2)
        #expect(proposer.cachedCount == 0 && proposer.next.isEmpty)
    }

    @Test(arguments: EngineCoreTests.Model.allCases)
    func answersAreUnchangedAndRepeatsAreDrafted(_ model: EngineCoreTests.Model) throws {
        // The same prompts twice, with and without a schema: the second pass finds the first's answers cached.
        let vocabulary = try EngineCoreTests.vocabulary(model)
        let prompts = SpeculativeDecodingTests.repeatingPrompts(6, vocabulary: vocabulary)
        let parameters = SamplingParameters(maxTokens: 24, ignoreEOS: true)
        let plain = try EngineCoreTests.engine(model)
        let suffix = try EngineCoreTests.engine(model, speculative: try SpeculativeConfig(), maxSpeculativeBatch: 64)
        for pass in 0..<2 {
            let expected = try EngineCoreTests.run(plain, prompts, parameters)
            let results = try EngineCoreTests.run(suffix, prompts, parameters)
            for i in prompts.indices { #expect(results["\(i)"]?.0 == expected["\(i)"]?.0, "pass \(pass) request \(i)") }
        }
        #expect(suffix.stats.acceptedDraftTokens > 0 && suffix.stats.steps < plain.stats.steps)
    }

    @Test(arguments: EngineCoreTests.Model.allCases)
    func constrainedAnswersAreUnchangedWithDraftsAfterJumpForwards(_ model: EngineCoreTests.Model) throws {
        let jumpOnly = try StructuredOutputEngineTests.engine(model)
        let suffix = try StructuredOutputEngineTests.engine(model, speculative: try SpeculativeConfig())
        var drafted = 0
        for schema in StructuredOutputEngineTests.schemas {
            let a = try jumpOnly.constraints.constraint(.jsonSchema(schema))
            let b = try suffix.constraints.constraint(.jsonSchema(schema))
            for pass in 0..<2 {
                let ids = (0..<6).map { "\($0)-\(pass)" }
                let expected = try StructuredOutputEngineTests.run(
                    jumpOnly,
                    (0..<6).map { Self.renamed(StructuredOutputEngineTests.request($0, a), pass) }
                )
                let results = try StructuredOutputEngineTests.run(
                    suffix,
                    (0..<6).map { Self.renamed(StructuredOutputEngineTests.request($0, b), pass) }
                )
                for id in ids {
                    #expect(results.answers["r" + id]?.tokens == expected.answers["r" + id]?.tokens, "\(schema) \(id)")
                    #expect(results.answers["r" + id]?.violation == nil)
                }
            }
            drafted += 1
        }
        // More draft tokens than jump-forward alone ran: the cache's guesses after the forced text.
        #expect(suffix.stats.draftTokens > jumpOnly.stats.draftTokens, "\(suffix.stats.draftTokens)")
        #expect(suffix.stats.acceptedDraftTokens >= jumpOnly.stats.acceptedDraftTokens)
    }

    static func renamed(_ request: EngineRequest, _ pass: Int) -> EngineRequest {
        var request = request
        request.id += "-\(pass)"
        return request
    }
}

extension SuffixDecodingTests {
    /// A classifying request decides its tokens outside sampling: with the suffix proposer it gets no drafts
    /// of its own and answers exactly as without one, twice in a row (the second after others finished).
    @Test func classifyingRequestsAnswerAsWithoutAProposer() throws {
        let plain = try StructuredOutputEngineTests.engine()
        let suffix = try StructuredOutputEngineTests.engine(speculative: try SpeculativeConfig())
        func answers(_ engine: EngineCore) throws -> [String: [Int32]] {
            var p = SamplingParameters(maxTokens: 60, classify: true)
            p.constraint = try engine.constraints.constraint(.jsonSchema(StructuredOutputEngineTests.schemas[0]))
            let requests = (0..<8).map { i in
                EngineRequest(
                    id: "c\(i)",
                    prompt: [Int32](repeating: Int32(5 + i % 4), count: 3 + i * 2),
                    parameters: p
                )
            }
            return try StructuredOutputEngineTests.run(engine, requests).answers.mapValues(\.tokens)
        }
        let expected = try answers(plain)
        #expect(try answers(suffix) == expected)
        #expect(suffix.stats.draftTokens == plain.stats.draftTokens)
    }
}
