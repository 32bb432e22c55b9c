import CPUBackend
import Engine
import GGUF
import Grammar
import Models
import SwerveCore
import TestSupport
import Testing

/// Structured output in the engine on tiny synthetic models (random weights, so the model "wants" random
/// things and the grammar does all the work): every constrained answer is valid, jump-forward changes no
/// token of masked greedy decoding, and constrained requests in a batch change nothing for the others.
@Suite struct StructuredOutputEngineTests {
    static let schemas = [
        #"{"type":"object","properties":{"name":{"type":"string","enum":["ok","abc","Zed","nope"]},"flag":{"type":"boolean"}},"required":["name","flag"]}"#,
        #"{"type":"object","properties":{"n":{"type":"integer","minimum":-20,"maximum":300},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":3},"note":{"type":"string","maxLength":6}},"required":["n","tags"]}"#,
        #"{"type":"array","items":{"type":"object","properties":{"x":{"type":"null"},"y":{"const":12}},"required":["y"]},"minItems":1,"maxItems":2}"#,
    ]

    static func engine(
        _ model: EngineCoreTests.Model = .llama,
        jumpForward: Bool = true,
        maxNumSeqs: Int = 64,
        sparseHead: Bool = true,
        maxSparseHeadTokens: Int = 4096,
        speculative: SpeculativeConfig? = nil
    ) throws -> EngineCore {
        let gguf = try model.gguf()
        let config = try ModelRegistry.config(of: gguf)
        return try EngineCore(
            gguf: gguf,
            tokenizer: ByteTokenizer(vocabularySize: config.vocabularySize),
            backend: CPUBackend(threads: 2),
            configuration: EngineConfiguration(
                maxModelLen: 256,
                maxNumSeqs: maxNumSeqs,
                maxNumBatchedTokens: 512,
                kvCacheMemory: 512 * 16 * config.blockCount * config.headCountKV * config.headDimension * 4,
                jumpForward: jumpForward,
                // Drafts at every batch size, so batched verification is exercised too.
                maxJumpForwardBatch: .max,
                sparseHead: sparseHead,
                maxSparseHeadTokens: maxSparseHeadTokens,
                speculative: speculative
            )
        )
    }

    struct Answer {
        var tokens: [Int32] = []
        var text = ""
        var finish: FinishReason?
        var violation: String?
    }

    static func run(_ engine: EngineCore, _ requests: [EngineRequest]) throws -> (answers: [String: Answer], steps: Int)
    {
        for request in requests { try engine.add(request) }
        var answers: [String: Answer] = [:]
        var steps = 0
        while engine.hasWork && steps < 3000 {
            steps += 1
            for output in engine.step() {
                answers[output.requestID, default: Answer()].tokens += output.tokenIDs
                answers[output.requestID, default: Answer()].text += output.text
                if output.isFinished {
                    answers[output.requestID]!.finish = output.finishReason
                    answers[output.requestID]!.violation = output.constraintViolation
                }
            }
        }
        return (answers, steps)
    }

    static func request(
        _ i: Int,
        _ constraint: StructuredConstraint?,
        _ parameters: SamplingParameters = .init(maxTokens: 80)
    ) -> EngineRequest {
        var p = parameters
        p.constraint = constraint
        let prompt = (0..<(5 + i % 13)).map { Int32(1 + ($0 * 7 + i * 3) % 90) }
        return EngineRequest(id: "r\(i)", prompt: prompt, parameters: p)
    }

    @Test(arguments: EngineCoreTests.Model.allCases)
    func jumpForwardEqualsMaskedGreedyDecoding(_ model: EngineCoreTests.Model) throws {
        let plain = try Self.engine(model, jumpForward: false)
        let fast = try Self.engine(model, jumpForward: true)
        for schema in Self.schemas {
            let a = try plain.constraints.constraint(.jsonSchema(schema))
            let b = try fast.constraints.constraint(.jsonSchema(schema))
            let (slow, slowSteps) = try Self.run(plain, (0..<6).map { Self.request($0, a) })
            let (quick, quickSteps) = try Self.run(fast, (0..<6).map { Self.request($0, b) })
            for (id, answer) in slow {
                #expect(quick[id]?.tokens == answer.tokens, "\(model) \(schema) \(id)")
                #expect(quick[id]?.text == answer.text)
                if answer.finish == .stop {
                    #expect(answer.violation == nil && a.violation(answer.text) == nil, "\(answer.text)")
                }
            }
            #expect(slow.values.filter { $0.finish == .stop }.count >= 4, "most answers complete")
            #expect(quickSteps < slowSteps, "jump-forward takes fewer steps (\(quickSteps) vs \(slowSteps))")
        }
        #expect(fast.stats.acceptedDraftTokens > 0 && fast.stats.acceptedDraftTokens <= fast.stats.draftTokens)
        #expect(plain.stats.draftTokens == 0)
    }

    /// The grammar-sparse output head chooses exactly the tokens of the full head: greedy and seeded
    /// sampling (penalties included), drafts verified in the same steps, a mixed batch with unconstrained
    /// requests (whose steps keep the full head). The synthetic vocabularies are small (the union of a
    /// batch's masks covers most groups of 16 rows), so the token limit is lifted here; SmolLM2's Pika test
    /// shows the real sparsity.
    @Test(arguments: EngineCoreTests.Model.allCases)
    func sparseHeadChoosesTheSameTokens(_ model: EngineCoreTests.Model) throws {
        let sampled = SamplingParameters(
            temperature: 1.1,
            topP: 0.9,
            topK: 30,
            seed: 11,
            presencePenalty: 0.3,
            repetitionPenalty: 1.1,
            maxTokens: 80
        )
        for parameters in [SamplingParameters(maxTokens: 80), sampled] {
            let full = try Self.engine(model, sparseHead: false)
            let sparse = try Self.engine(model, maxSparseHeadTokens: 1 << 20)
            func requests(_ engine: EngineCore) throws -> [EngineRequest] {
                var kinds: [StructuredConstraint?] = try Self.schemas.map {
                    try engine.constraints.constraint(.jsonSchema($0))
                }
                kinds.append(try engine.constraints.constraint(.choice(["yes", "no", "nope"])))
                var all = (0..<6).map { Self.request($0, kinds[$0 % kinds.count], parameters) }
                // An unconstrained request keeps the full head for the steps it shares (its prompt's and
                // first token's), then finishes.
                var short = parameters
                short.maxTokens = 1
                all.append(EngineRequest(id: "free", prompt: [5, 9, 14, 30], parameters: short))
                return all
            }
            let (a, _) = try Self.run(full, try requests(full))
            let (b, _) = try Self.run(sparse, try requests(sparse))
            for (id, answer) in a {
                #expect(b[id]?.tokens == answer.tokens, "\(model) \(id) temperature \(parameters.temperature)")
            }
            #expect(full.stats.sparseHeadSteps == 0)
            #expect(sparse.stats.sparseHeadSteps > 0, "the sparse head ran")
            // Alone, constrained requests run every step sparse or full by their grammars.
            let alone = try Self.engine(model, maxSparseHeadTokens: 1 << 20)
            let (c, _) = try Self.run(alone, Array(try requests(alone).prefix(3)))
            for (id, answer) in c { #expect(a[id]?.tokens == answer.tokens, "\(model) \(id) alone") }
        }
    }

    @Test func sampledConstrainedAnswersAreValid() throws {
        let engine = try Self.engine()
        let constraints = try Self.schemas.map { try engine.constraints.constraint(.jsonSchema($0)) }
        let parameters = SamplingParameters(
            temperature: 1.3,
            topP: 0.95,
            topK: 40,
            seed: 5,
            presencePenalty: 0.5,
            repetitionPenalty: 1.2,
            maxTokens: 120
        )
        let (answers, _) = try Self.run(engine, (0..<24).map { Self.request($0, constraints[$0 % 3], parameters) })
        var complete = 0
        for (id, answer) in answers where answer.finish == .stop {
            complete += 1
            let constraint = constraints[Int(id.dropFirst())! % 3]
            #expect(answer.violation == nil && constraint.violation(answer.text) == nil, "\(id): \(answer.text)")
        }
        #expect(complete >= 18)
        #expect(engine.stats.constraintViolations == 0)
    }

    /// 64 requests in one batch, with three different schemas, a regex, a choice and none: constrained
    /// answers are valid and unconstrained ones equal the same request run alone.
    @Test func mixedBatchOf64ChangesNothingForOthers() throws {
        let engine = try Self.engine()
        var kinds: [StructuredConstraint?] = try Self.schemas.map { try engine.constraints.constraint(.jsonSchema($0)) }
        kinds.append(try engine.constraints.constraint(.regex("[a-z]{2,5}-[0-9]{1,3}")))
        kinds.append(try engine.constraints.constraint(.choice(["yes", "no", "nope"])))
        kinds.append(nil)
        let requests = (0..<64).map { Self.request($0, kinds[$0 % kinds.count]) }
        let (together, _) = try Self.run(engine, requests)
        #expect(together.count == 64)
        for (i, request) in requests.enumerated() {
            let answer = together[request.id]!
            if let constraint = request.parameters.constraint {
                if answer.finish == .stop { #expect(constraint.violation(answer.text) == nil, "\(answer.text)") }
            } else {
                let alone = try Self.run(try Self.engine(maxNumSeqs: 1), [request]).answers[request.id]!
                #expect(alone.tokens == answer.tokens, "request \(i)")
            }
        }
        let completed = requests.filter { $0.parameters.constraint != nil && together[$0.id]?.finish == .stop }.count
        #expect(completed >= 40)
    }

    @Test func choiceEndsAtTheChoiceAndStopStringsStillApply() throws {
        let engine = try Self.engine()
        let choice = try engine.constraints.constraint(.choice(["alpha", "beta", "gamma"]))
        let (answers, _) = try Self.run(engine, (0..<5).map { Self.request($0, choice) })
        for answer in answers.values {
            #expect(["alpha", "beta", "gamma"].contains(answer.text) && answer.finish == .stop)
        }
        var p = SamplingParameters(maxTokens: 40, stop: ["\":"])
        p.constraint = try engine.constraints.constraint(.jsonSchema(Self.schemas[0]))
        let cut = try Self.run(engine, [EngineRequest(id: "s", prompt: [3, 4, 5], parameters: p)]).answers["s"]!
        #expect(cut.text == #"{"name"# && cut.finish == .stop && cut.violation == nil)
    }
}

/// One-pass classification: every alternative of a choice or enum scored in one batched pass of forks
/// sharing the prompt's KV blocks, the most likely taken.
@Suite struct ClassificationTests {
    /// The log-likelihood of `continuation` after `prompt`, token by token on the single-sequence path (its
    /// own KV cache, no forks, no paging shared with anything): the referee for classification scores.
    static func likelihood(_ engine: EngineCore, prompt: [Int32], continuation: [Int32]) -> Float {
        let forward = engine.forward
        let cache = forward.makeCache(capacity: 256)
        var logits = [Float](repeating: 0, count: forward.config.vocabularySize)
        var total: Float = 0
        var position = 0
        var input = prompt
        for token in continuation {
            input.withUnsafeBufferPointer { ids in
                logits.withUnsafeMutableBufferPointer {
                    forward.forward(ids, firstPosition: position, cache: cache, logits: $0)
                }
            }
            position += input.count
            total += logits.withUnsafeBufferPointer { TokenLogprobs(logits: $0, token: token, top: 0).logprob }
            input = [token]
        }
        return total
    }

    /// Each alternative's score equals its log-likelihood computed token by token on the single-sequence
    /// path (so the forks read the right KV, the copied partly filled block included).
    @Test(arguments: EngineCoreTests.Model.allCases)
    func choiceScoresEqualTheLikelihoods(_ model: EngineCoreTests.Model) throws {
        let engine = try StructuredOutputEngineTests.engine(model)
        let options = ["alpha", "beta", "nope", "Zed", "ok"]
        let prompt: [Int32] = (1...21).map { Int32($0 * 3 % 70 + 1) }  // 21 tokens: a partly filled block
        var p = SamplingParameters(maxTokens: 20, classify: true)
        p.constraint = try engine.constraints.constraint(.choice(options))
        try engine.add(EngineRequest(id: "c", prompt: prompt, parameters: p))
        var text = ""
        var reports: [Classification] = []
        while engine.hasWork {
            for output in engine.step() {
                text += output.text
                reports += output.classifications
            }
        }
        #expect(reports.count == 1)
        let report = try #require(reports.first)
        #expect(report.alternatives == options)
        #expect(text == options[report.chosen])
        #expect(report.logprobs[report.chosen] == report.logprobs.max())
        for (i, option) in options.enumerated() {
            let ids = engine.tokenizer.encode(option, parseSpecial: false, addBOS: false).map(Int32.init)
            let expected = Self.likelihood(engine, prompt: prompt, continuation: ids)
            #expect(abs(expected - report.logprobs[i]) < 1e-3, "\(option): \(expected) vs \(report.logprobs[i])")
        }
        #expect(engine.scheduler.running.isEmpty && engine.scheduler.blocks.invariantViolations().isEmpty)
    }

    @Test func enumFieldsOfASchemaAreClassifiedAndTheAnswerIsValid() throws {
        let engine = try StructuredOutputEngineTests.engine()
        let schema = StructuredOutputEngineTests.schemas[0]
        var p = SamplingParameters(maxTokens: 60, classify: true)
        p.constraint = try engine.constraints.constraint(.jsonSchema(schema))
        let requests = (0..<4).map { i in
            EngineRequest(id: "e\(i)", prompt: [Int32](repeating: Int32(5 + i), count: 3 + i * 5), parameters: p)
        }
        for request in requests { try engine.add(request) }
        var texts: [String: String] = [:]
        var reports: [String: [Classification]] = [:]
        while engine.hasWork {
            for output in engine.step() {
                texts[output.requestID, default: ""] += output.text
                reports[output.requestID, default: []] += output.classifications
                if output.isFinished { #expect(output.finishReason == .stop && output.constraintViolation == nil) }
            }
        }
        for request in requests {
            let answer = try JSONValue.parse(texts[request.id]!)
            let found = try #require(reports[request.id])
            // The name enum and the boolean are both choices between literals.
            #expect(found.count == 2, "\(found)")
            #expect(found[0].alternatives == ["ok", "abc", "Zed", "nope"])
            #expect(answer["name"]?.string == found[0].alternatives[found[0].chosen])
            #expect(found[1].alternatives == ["true", "false"])
            #expect(answer["flag"]?.bool == (found[1].chosen == 0))
        }
        #expect(engine.scheduler.running.isEmpty && engine.scheduler.blocks.invariantViolations().isEmpty)
    }
}
