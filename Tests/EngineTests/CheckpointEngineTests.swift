import Bench
import CPUBackend
import Engine
import Foundation
import Models
import SwerveCore
import TestSupport
import Testing

/// SmolLM2-135M-Instruct as a float16 Hugging Face checkpoint (dequantized from its Q4_1 GGUF by
/// scripts/gguf-to-checkpoint.py), loaded through `Checkpoint` in float16 (`--dtype auto`: its
/// torch_dtype) and quantized on load to Q8_0 and Q4_0: the same greedy tokens as the GGUF along the GGUF's
/// own path but at near-ties (float16, Q8_0), and the seed's request answered with schema-valid JSON (all).
@Suite(.serialized, .tags(.realModel), .needsRealModels) struct CheckpointEngineTests {
    @Test(arguments: [nil, "q8_0"])
    func smollm2sCheckpointGivesItsGGUFsTokens(quantization: String?) async throws {
        let folder = try await TestModels.smollm2Checkpoint()
        let checkpoint = try await offThePool {
            try ModelFile(path: folder, weights: WeightFormat(quantization: quantization))
        }
        let label = quantization ?? "float16"
        let file = try ModelFile(path: try await TestModels.smollm2())
        #expect(checkpoint.config == file.config)
        #expect(checkpoint.tokenizer.encode("Hello, Pika! 12 cats.") == file.tokenizer.encode("Hello, Pika! 12 cats."))
        let prompt = try PikaWorkload.prompt(3, model: file)
        #expect(try PikaWorkload.prompt(3, model: checkpoint) == prompt, "the chat template and tokenizer agree")
        func session(_ model: ModelFile) throws -> Referee.Session {
            Referee.Session(
                try ModelRegistry.makeForward(gguf: model.gguf, backend: CPUBackend(threads: 2), maxBatch: 512)
            )
        }
        let (ours, theirs) = (try session(checkpoint), try session(file))
        let (a, b) = (ours.run(prompt.map(Int.init)), theirs.run(prompt.map(Int.init)))
        let (spread, worst) = Referee.difference(a, b)
        print("SmolLM2 checkpoint (\(label)) vs its Q4_1 GGUF, Pika prompt: logit std \(spread), max \(worst)")
        var expected: [Int] = []
        for _ in 0..<24 {
            expected.append(theirs.argmax)
            theirs.run([theirs.argmax])
        }
        let path = Referee.teacherForced(ours, expected: expected)
        print("SmolLM2 checkpoint (\(label)) vs GGUF, teacher forced: \(path)")
        for difference in path.differences { #expect(difference.gap < Referee.tieMargin, "\(path)") }
    }

    @Test(arguments: [nil, "q8_0", "q4_0"])
    func theSeedsRequestIsAnsweredFromTheCheckpoint(quantization: String?) async throws {
        let folder = try await TestModels.smollm2Checkpoint()
        let model = try await offThePool {
            try ModelFile(path: folder, weights: WeightFormat(quantization: quantization))
        }
        let engine = try EngineCore(
            model: model,
            backend: CPUBackend(threads: 2),
            configuration: EngineConfiguration(maxModelLen: 512, maxNumSeqs: 4, kvCacheMemory: 64 << 20)
        )
        for i in 0..<3 {
            var p = SamplingParameters(temperature: 0, maxTokens: 50)
            p.constraint = try engine.constraints.constraint(.jsonSchema(PikaWorkload.responseSchema))
            try engine.add(EngineRequest(id: "\(i)", prompt: try PikaWorkload.prompt(i, model: model), parameters: p))
            var (text, finish): (String, FinishReason?) = ("", nil)
            while engine.hasWork {
                for output in engine.step() {
                    text += output.text
                    finish = output.finishReason ?? finish
                }
            }
            #expect(finish == .stop)
            let json = try JSONValue.parse(text)
            #expect(PikaWorkload.emotions.contains(json["emotion"]?.string ?? ""), "\(text)")
            #expect(json["learn_score"]?.bool != nil, "\(text)")
        }
    }
}
