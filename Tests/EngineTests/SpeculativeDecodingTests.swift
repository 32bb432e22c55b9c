import CPUBackend
import Engine
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
    }

    @Test(arguments: [
        (#"{"method":"ngram","num_speculative_tokens":3"#, "not valid JSON"),
        (#"[1]"#, "a JSON object"),
        (#"{"num_speculative_tokens":3,"prompt_lookup_max":2}"#, "needs 'method'"),
        (#"{"method":"lookahead","num_speculative_tokens":3}"#, "method 'lookahead' is unknown"),
        (#"{"method":"draft_model","num_speculative_tokens":3}"#, "method 'draft_model' is not implemented"),
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
            "field 'model' is not supported"
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
