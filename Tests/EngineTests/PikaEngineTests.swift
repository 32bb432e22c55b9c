import Bench
import CPUBackend
import Engine
import Models
import TestSupport
import Testing
import Tokenizers

/// The seed's workload on the real SmolLM2-135M: the shared system prompt is computed once and served from
/// the prefix cache to every later request, without changing any output.
@Suite(.tags(.realModel), .needsRealModels) struct PikaEngineTests {
    static func engine(
        prefixCaching: Bool = true,
        jumpForward: Bool = true,
        sparseHead: Bool = true,
        speculative: SpeculativeConfig? = nil
    ) async throws -> (EngineCore, ModelFile) {
        let model = try ModelFile(path: try await TestModels.smollm2())
        let engine = try EngineCore(
            model: model,
            backend: CPUBackend(threads: 2),
            configuration: EngineConfiguration(
                maxModelLen: 512,
                maxNumSeqs: 8,
                enablePrefixCaching: prefixCaching,
                kvCacheMemory: 64 << 20,
                jumpForward: jumpForward,
                sparseHead: sparseHead,
                speculative: speculative
            )
        )
        return (engine, model)
    }

    static func answer(
        _ engine: EngineCore,
        _ prompt: [Int32],
        id: String,
        maxTokens: Int = 15
    ) throws
        -> RequestOutput
    {
        try engine.add(EngineRequest(id: id, prompt: prompt, parameters: SamplingParameters(maxTokens: maxTokens)))
        var text = ""
        var tokens: [Int32] = []
        var last: RequestOutput?
        while engine.hasWork {
            for output in engine.step() {
                text += output.text
                tokens += output.tokenIDs
                last = output
            }
        }
        var whole = last!
        whole.text = text
        whole.tokenIDs = tokens
        return whole
    }

    @Test func theSystemPromptIsPrefilledOnceAndOutputsDoNotChange() async throws {
        let (cached, model) = try await Self.engine(prefixCaching: true)
        let (uncached, _) = try await Self.engine(prefixCaching: false)
        let prompts = try (0..<3).map { try PikaWorkload.prompt($0, model: model) }
        // The system turn's tokens: what every prompt shares.
        let shared = zip(prompts[0], prompts[1]).prefix { $0 == $1 }.count
        #expect(shared > 300)
        for (i, prompt) in prompts.enumerated() {
            let hits = cached.stats.prefixCacheHits
            let a = try Self.answer(cached, prompt, id: "\(i)")
            let b = try Self.answer(uncached, prompt, id: "\(i)")
            #expect(a.tokenIDs == b.tokenIDs && a.text == b.text, "request \(i)")
            #expect(b.usage?.cachedPromptTokens == 0)
            if i == 0 {
                #expect(a.usage?.cachedPromptTokens == 0)
            } else {
                // Every full block of the shared prefix comes from the cache: only the new tokens are prefilled.
                let expected = shared / 16 * 16
                #expect(a.usage?.cachedPromptTokens == expected, "request \(i): \(a.usage!) shared \(shared)")
                #expect(cached.stats.prefixCacheHits - hits == expected)
            }
            // Unconstrained, the 135M model does not answer in JSON (the seed's complaint): only check it answered.
            #expect(!a.tokenIDs.isEmpty)
        }
        #expect(cached.stats.prefixCacheQueries == prompts.reduce(0) { $0 + $1.count })
    }

    /// The seed's failure case: its request (`../shared/pika/sample_request.json`: the system prompt and
    /// this user turn) unconstrained makes SmolLM2 echo its input until `max_tokens`; prompt lookup drafts
    /// the echo and the answer stays token for token the same, in fewer than half the steps.
    @Test func ngramDraftsTheEchoWithoutChangingIt() async throws {
        let (plain, model) = try await Self.engine()
        let config = try SpeculativeConfig(numSpeculativeTokens: 8, promptLookupMax: 4, promptLookupMin: 2)
        let (drafted, _) = try await Self.engine(speculative: config)
        let turn =
            "Previous Question: Tớ buồn quá. \nPrevious Answer: i think a yummy\nResponse to check: Nghe vui quá! "
            + "Bể Hả, cậu có muốn chơi trò kể tên các loại trái cây bằng tiếng Anh không? Name fruits in English!"
        let prompt = try model.prompts.chat(
            .array([
                .object(JinjaObject([("role", .string("system")), ("content", .string(PikaWorkload.systemPrompt))])),
                .object(JinjaObject([("role", .string("user")), ("content", .string(turn))])),
            ])
        )
        let a = try Self.answer(plain, prompt, id: "seed", maxTokens: 50)
        let b = try Self.answer(drafted, prompt, id: "seed", maxTokens: 50)
        #expect(a.tokenIDs == b.tokenIDs && a.text == b.text)
        #expect(b.tokenIDs.count == 50 && b.finishReason == .length, "\(b.text)")
        let stats = drafted.stats
        #expect(
            stats.acceptedDraftTokens * 2 > stats.draftTokens,
            "\(stats.acceptedDraftTokens) of \(stats.draftTokens)"
        )
        #expect(stats.steps * 2 < plain.stats.steps, "\(stats.steps) vs \(plain.stats.steps) steps")
    }

    /// `draft_model` on the real model: SmolLM2 drafting for itself (the store holds no smaller model of its
    /// vocabulary) changes no token of the seed's answer, and nearly every draft is what the target picks.
    @Test func aDraftModelChangesNoTokenOfTheSeedsAnswer() async throws {
        let (plain, model) = try await Self.engine()
        let config = try SpeculativeConfig(draftModel: try await TestModels.smollm2(), numSpeculativeTokens: 4)
        let (drafted, _) = try await Self.engine(speculative: config)
        let prompt = try model.prompts.chat(
            .array([
                .object(JinjaObject([("role", .string("system")), ("content", .string(PikaWorkload.systemPrompt))])),
                .object(
                    JinjaObject([("role", .string("user")), ("content", .string("Response to check: Great job!"))])
                ),
            ])
        )
        let a = try Self.answer(plain, prompt, id: "seed", maxTokens: 24)
        let b = try Self.answer(drafted, prompt, id: "seed", maxTokens: 24)
        #expect(a.tokenIDs == b.tokenIDs && a.text == b.text)
        let stats = drafted.stats
        #expect(
            stats.acceptedDraftTokens * 10 >= stats.draftTokens * 9,
            "\(stats.acceptedDraftTokens) of \(stats.draftTokens)"
        )
    }

    @Test func eightConcurrentPikaRequestsAnswerAsEachAlone() async throws {
        let (batched, model) = try await Self.engine(prefixCaching: true)
        let (solo, _) = try await Self.engine(prefixCaching: false)
        let prompts = try (10..<18).map { try PikaWorkload.prompt($0, model: model) }
        let alone = try prompts.enumerated().map { try Self.answer(solo, $1, id: "\($0)").tokenIDs }
        for (i, prompt) in prompts.enumerated() {
            try batched.add(EngineRequest(id: "\(i)", prompt: prompt, parameters: SamplingParameters(maxTokens: 15)))
        }
        var together: [String: [Int32]] = [:]
        for output in batched.runToCompletion() { together[output.requestID, default: []] += output.tokenIDs }
        for i in prompts.indices { #expect(together["\(i)"] == alone[i], "request \(i)") }
    }
}
