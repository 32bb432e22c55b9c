import GGUF
import Models
import ReferenceBackend
import TestSupport
import Testing

/// The plain-Swift reference backend running SmolLM2 against llama.cpp (same GGUF, flash attention off,
/// f16 KV cache): last-position logits within llama.cpp's noise floor, and along llama.cpp's greedy path
/// (teacher forcing) the same token at every step except near-ties (`Referee`).
@Suite(.serialized, .tags(.realModel), .needsRealModels) struct ReferenceBackendTests {
    static let forward = Task {
        try ModelRegistry.makeForward(
            gguf: GGUFFile(path: try await TestModels.smollm2()),
            backend: ReferenceBackend(),
            maxBatch: 1
        )
    }

    @Test(arguments: ["plain-en", "plain-vi", "chat-en", "chat-vi"])
    func followsLlamaCppsGreedyPath(kind: String) async throws {
        let c = try #require(GreedyFixture.cases(model: "smollm2-135m").first { $0.kind == kind })
        let session = Referee.Session(try await Self.forward.value)
        let logits = session.run(c.prompt_ids)
        #expect(c.fullLogits != nil)
        let (spread, worst) = Referee.promptDifference(c, logits: logits)
        #expect(
            spread < Referee.maxSpread && worst < Referee.maxDifference,
            "\(kind): logit difference std \(spread), max \(worst)"
        )

        let report = Referee.teacherForced(session, expected: c.greedy_ids)
        print("reference \(kind): \(report), logit difference std \(spread) max \(worst)")
        for difference in report.differences {
            #expect(difference.gap < Referee.tieMargin, "\(kind): \(report)")
        }
        #expect(report.identical >= 28)
    }
}
