import Bench
import CPUBackend
import Engine
import Foundation
import Grammar
import Models
import SwerveCore
import TestSupport
import Testing

/// The seed's request with its answer schema on the real SmolLM2-135M: every answer is schema-valid and
/// ends with `stop`, and jump-forward decoding and the grammar-sparse output head give exactly the tokens
/// of masked greedy decoding with the full head, jump-forward in fewer steps.
@Suite struct PikaStructuredOutputTests {
    @Test func theSchemaFileIsTheOneTheBenchUses() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/pika/response_schema.json")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return }  // outside this workspace
        #expect(try JSONValue.parse(text) == JSONValue.parse(PikaWorkload.responseSchema))
    }

    @Test(.tags(.realModel), .needsRealModels) func jumpForwardAnswersEqualMaskedGreedyAndAreValid() async throws {
        let (plain, model) = try await PikaEngineTests.engine(jumpForward: false, sparseHead: false)
        let (fast, _) = try await PikaEngineTests.engine(jumpForward: true)
        let (sparse, _) = try await PikaEngineTests.engine(jumpForward: false)
        let emotions = Set(PikaWorkload.emotions)
        var stepsPlain = 0
        var stepsFast = 0
        for i in 0..<6 {
            let prompt = try PikaWorkload.prompt(i * 5, model: model)
            var answers: [(tokens: [Int32], text: String, finish: FinishReason?)] = []
            for engine in [plain, fast, sparse] {
                var p = SamplingParameters(temperature: 0, maxTokens: 50)
                p.constraint = try engine.constraints.constraint(.jsonSchema(PikaWorkload.responseSchema))
                try engine.add(EngineRequest(id: "\(i)", prompt: prompt, parameters: p))
                var answer: ([Int32], String, FinishReason?) = ([], "", nil)
                var steps = 0
                while engine.hasWork {
                    steps += 1
                    for output in engine.step() {
                        answer.0 += output.tokenIDs
                        answer.1 += output.text
                        answer.2 = output.finishReason ?? answer.2
                        #expect(output.constraintViolation == nil)
                    }
                }
                if engine === plain { stepsPlain += steps } else if engine === fast { stepsFast += steps }
                answers.append(answer)
            }
            #expect(answers[0].tokens == answers[1].tokens, "prompt \(i): \(answers[0].text) vs \(answers[1].text)")
            #expect(answers[0].tokens == answers[2].tokens, "prompt \(i): \(answers[0].text) vs \(answers[2].text)")
            for answer in answers {
                #expect(answer.finish == .stop)
                let json = try JSONValue.parse(answer.text)
                #expect(emotions.contains(json["emotion"]?.string ?? ""), "\(answer.text)")
                #expect(json["learn_score"]?.bool != nil)
                #expect(answer.text.hasPrefix(#"{"emotion":""#))
            }
        }
        // The JSON skeleton is forced: about half of the answer's tokens need no step of their own.
        #expect(Double(stepsFast) < 0.7 * Double(stepsPlain), "steps \(stepsFast) vs \(stepsPlain)")
        #expect(fast.stats.acceptedDraftTokens > 0)
        #expect(sparse.stats.sparseHeadSteps > 0 && fast.stats.sparseHeadSteps > 0 && plain.stats.sparseHeadSteps == 0)
        print(
            "Pika steps with jump-forward \(stepsFast), masked decoding \(stepsPlain); drafts \(fast.stats.acceptedDraftTokens)/\(fast.stats.draftTokens) accepted; sparse-head steps \(sparse.stats.sparseHeadSteps) of \(sparse.stats.steps) (masked), \(fast.stats.sparseHeadSteps) of \(fast.stats.steps) (jump-forward)"
        )
    }
}
