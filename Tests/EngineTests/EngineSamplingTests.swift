import Engine
import TestSupport
import Testing

/// Each per-request control of the engine on the synthetic llama (vocabulary 96, token 0 = end of sequence,
/// `LetterTokenizer` text), inside batches of other requests.
@Suite struct EngineSamplingTests {
    static let prompt: [Int32] = [5, 17, 33, 2, 48, 61, 9, 77, 12, 40, 3, 25, 66, 80, 14, 7, 55, 21, 30]

    /// One request's outputs, run alongside `others` unrelated greedy requests.
    static func outputs(_ parameters: SamplingParameters, others: Int = 0) throws -> [RequestOutput] {
        let engine = try EngineCoreTests.engine()
        let noise = EngineCoreTests.prompts(others, vocabulary: 96, seed: 99)
        for (i, prompt) in noise.enumerated() {
            try engine.add(
                EngineRequest(id: "other-\(i)", prompt: prompt, parameters: SamplingParameters(maxTokens: 7))
            )
        }
        try engine.add(EngineRequest(id: "r", prompt: prompt, parameters: parameters))
        return engine.runToCompletion().filter { $0.requestID == "r" }
    }

    static func tokens(_ outputs: [RequestOutput], index: Int = 0) -> [Int32] {
        outputs.filter { $0.index == index }.flatMap(\.tokenIDs)
    }

    static func text(_ outputs: [RequestOutput], index: Int = 0) -> String {
        outputs.filter { $0.index == index }.map(\.text).joined()
    }

    @Test func theSameSeedGivesTheSameTokensWhateverShareTheBatch() throws {
        let parameters = SamplingParameters(temperature: 1, topP: 0.9, seed: 42, maxTokens: 12, ignoreEOS: true)
        let alone = Self.tokens(try Self.outputs(parameters))
        let batched = Self.tokens(try Self.outputs(parameters, others: 9))
        #expect(alone.count == 12 && alone == batched)
        let other = Self.tokens(
            try Self.outputs(SamplingParameters(temperature: 1, seed: 43, maxTokens: 12, ignoreEOS: true))
        )
        #expect(other != alone)
    }

    @Test func stopStringsEndTheTextBeforeThemEvenAcrossTokens() throws {
        let free = try Self.outputs(SamplingParameters(maxTokens: 12, ignoreEOS: true))
        let text = Self.text(free)
        // A stop string spanning the end of the 3rd token's text and the start of the 4th's.
        let pieces = free.map(\.text)
        let start = pieces[0..<2].joined().count + pieces[2].count - 1
        let stop = String(Array(text)[start..<(start + 3)])
        let stopped = try Self.outputs(SamplingParameters(maxTokens: 12, stop: [stop], ignoreEOS: true))
        let expected = String(text[..<text.range(of: stop)!.lowerBound])
        #expect(Self.text(stopped) == expected)
        #expect(stopped.last?.finishReason == .stop && stopped.last?.stopReason == .string(stop))
        #expect(!Self.text(stopped).contains(stop))
    }

    /// The step whose text completes a stop string finishes the request: it leaves the scheduler (its KV
    /// blocks freed) in that step, not the next, and its tokens end with the one that completed the stop.
    @Test func aStopStringFinishesTheRequestInTheStepThatFoundIt() throws {
        let free = try Self.outputs(SamplingParameters(maxTokens: 12, ignoreEOS: true))
        let pieces = free.map(\.text)
        let text = pieces.joined()
        // Two tokens' text; where it first ends says which token completes it (one token per output here).
        let stop = pieces[4] + pieces[5]
        let end = text.utf8.distance(from: text.startIndex, to: try #require(text.range(of: stop)).upperBound)
        var tokens = 0
        var covered = 0
        while covered < end {
            covered += pieces[tokens].utf8.count
            tokens += 1
        }
        let engine = try EngineCoreTests.engine()
        let parameters = SamplingParameters(maxTokens: 12, stop: [stop], ignoreEOS: true)
        try engine.add(EngineRequest(id: "r", prompt: Self.prompt, parameters: parameters))
        var outputs: [RequestOutput] = []
        while outputs.last?.isFinished != true, engine.hasWork { outputs += engine.step() }
        #expect(outputs.last?.stopReason == .string(stop))
        #expect(!engine.hasWork && engine.scheduler.running.isEmpty, "finished in the step that found it")
        #expect(engine.scheduler.blocks.freeBlockCount == engine.scheduler.blocks.blockCount)
        #expect(Self.tokens(outputs) == Array(Self.tokens(free).prefix(tokens)))
        #expect(engine.stats.steps == tokens, "one step per token (the first computes the prompt)")
    }

    @Test func endOfSequenceMinTokensAndIgnoreEOS() throws {
        // A large bias makes end of sequence (token 0) the greedy choice at every step.
        let eos = SamplingParameters(logitBias: [0: 100], maxTokens: 8)
        let ended = try Self.outputs(eos)
        #expect(Self.tokens(ended).isEmpty && ended.last?.finishReason == .stop)
        var minimum = eos
        minimum.minTokens = 3
        let three = try Self.outputs(minimum)
        #expect(Self.tokens(three).count == 3 && three.last?.finishReason == .stop)
        var ignoring = eos
        ignoring.ignoreEOS = true
        let all = try Self.outputs(ignoring)
        #expect(Self.tokens(all) == Array(repeating: 0, count: 8) && all.last?.finishReason == .length)
        // A stop token id ends the output like end of sequence, and is reported.
        let stopToken = try Self.outputs(SamplingParameters(logitBias: [9: 100], maxTokens: 8, stopTokenIDs: [9]))
        #expect(Self.tokens(stopToken).isEmpty && stopToken.last?.stopReason == .token(9))
    }

    @Test func logprobsReportTheRawDistribution() throws {
        let outputs = try Self.outputs(SamplingParameters(maxTokens: 6, ignoreEOS: true, logprobs: 3))
        let logprobs = outputs.flatMap(\.logprobs)
        #expect(logprobs.count == 6)
        for entry in logprobs {
            #expect(entry.top.count == 3)
            #expect(entry.top[0].logprob >= entry.top[1].logprob && entry.top[1].logprob >= entry.top[2].logprob)
            // Greedy without adjustments: the chosen token is the most likely.
            #expect(entry.top[0].token == entry.token && abs(entry.top[0].logprob - entry.logprob) < 1e-5)
            #expect(entry.logprob <= 0)
        }
    }

    @Test func nCompletionsShareThePromptsBlocks() throws {
        let parameters = SamplingParameters(n: 3, temperature: 1, seed: 5, maxTokens: 6, ignoreEOS: true)
        let outputs = try Self.outputs(parameters, others: 2)
        let usages = outputs.compactMap(\.usage)
        #expect(usages.count == 3)
        // The prompt (19 tokens) has one full block of 16, computed once and shared by the other two.
        #expect(usages.map(\.cachedPromptTokens).sorted() == [0, 16, 16])
        let completions = (0..<3).map { Self.tokens(outputs, index: $0) }
        #expect(completions.allSatisfy { $0.count == 6 })
        #expect(Set(completions).count > 1, "different seeds per completion")
    }

    @Test func badParametersAreRefusedWithVLLMsMessages() throws {
        let engine = try EngineCoreTests.engine()
        func refusal(_ parameters: SamplingParameters, prompt: [Int32] = [1, 2]) -> String? {
            do {
                try engine.add(EngineRequest(id: "x", prompt: prompt, parameters: parameters))
                return nil
            } catch { return error.description }
        }
        #expect(refusal(SamplingParameters(topP: 0))?.contains("top_p") == true)
        #expect(refusal(SamplingParameters(temperature: -1))?.contains("temperature") == true)
        #expect(refusal(SamplingParameters(logitBias: [500: 1]))?.contains("logit_bias") == true)
        #expect(refusal(SamplingParameters(maxTokens: 2, minTokens: 3))?.contains("min_tokens") == true)
        #expect(refusal(SamplingParameters(logprobs: 21))?.contains("logprobs") == true)
        #expect(refusal(SamplingParameters(), prompt: Array(repeating: 1, count: 256))?.contains("256") == true)
        #expect(refusal(SamplingParameters(), prompt: []) == "the prompt is empty")
        #expect(!engine.hasWork)
    }
}
