import CPUBackend
import GGUF
import Models
import TestSupport
import Testing

/// The CPU backend on the real models against llama.cpp on the same GGUF files (scripts/make-fixtures.py):
/// prompt logits within llama.cpp's own noise floor, and greedy generation equal to llama.cpp's token for
/// token, where a difference is allowed only at a near-tie (`Referee`).
@Suite(.serialized, .tags(.realModel), .needsRealModels) struct LlamaCppParityTests {
    static let smollm = Task { try ModelFile(path: try await TestModels.smollm2()) }
    static let gemma = Task { try ModelFile(path: try await TestModels.gemma3()) }

    static func forward(_ model: String) async throws -> any ForwardPass {
        let file = model == "smollm2-135m" ? try await smollm.value : try await gemma.value
        return try ModelRegistry.makeForward(gguf: file.gguf, backend: CPUBackend(threads: 2), maxBatch: 512)
    }

    static let kinds = ["plain-en", "plain-vi", "chat-en", "chat-vi", "pika"]

    @Test(arguments: ["smollm2-135m", "gemma3-270m"], kinds)
    func greedyGenerationEqualsLlamaCpp(model: String, kind: String) async throws {
        let c = try #require(GreedyFixture.cases(model: model).first { $0.kind == kind })
        let session = Referee.Session(try await Self.forward(model))
        let logits = session.run(c.prompt_ids)

        // Last-position logits: all of them for SmolLM2, llama.cpp's top 40 for Gemma.
        let (spread, worst) = Referee.promptDifference(c, logits: logits)
        #expect(
            spread < Referee.maxSpread && worst < Referee.maxDifference,
            "\(model) \(kind): logit difference std \(spread), max \(worst)"
        )

        // Free running: token for token, or a departure at a near-tie only.
        let report = Referee.freeRunning(session, expected: c.greedy_ids)
        print("cpu \(model) \(kind) free running: \(report); logit difference std \(spread) max \(worst)")
        for difference in report.differences {
            #expect(difference.gap < Referee.tieMargin, "\(model) \(kind): \(report)")
        }
        // Past a departure, along llama.cpp's own path: every one of the 32 steps agrees but near-ties.
        if !report.differences.isEmpty {
            let forced = Referee.Session(session.forward)
            forced.run(c.prompt_ids)
            let path = Referee.teacherForced(forced, expected: c.greedy_ids)
            print("cpu \(model) \(kind) teacher forced: \(path)")
            for difference in path.differences {
                #expect(difference.gap < Referee.tieMargin, "\(model) \(kind) teacher forced: \(path)")
            }
            #expect(path.identical >= 28)
        }
    }
}
