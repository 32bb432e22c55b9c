import CPUBackend
import Foundation
import GGUF
import Models
import ReferenceBackend
import SwerveCore
import TestSupport
import Testing

/// Each architecture beyond llama and Gemma 3 on a tiny random-weight model (scripts/make-arch-fixtures.py),
/// on the CPU and reference backends, against both referees: last-position logits within the README's
/// tolerance (`Referee`) of transformers' (same weights, float32) and llama.cpp's (same GGUF), and greedy
/// continuations equal to each token for token but at near-ties.
@Suite struct ArchitectureParityTests {
    static func forward(_ c: ArchitectureFixture.Case, backend: String) throws -> any ForwardPass {
        let gguf = try GGUFFile(path: ArchitectureFixture.path(of: c.file))
        let chosen: any Backend = backend == "cpu" ? CPUBackend(threads: 2) : ReferenceBackend()
        return try ModelRegistry.makeForward(gguf: gguf, backend: chosen, maxBatch: 64)
    }

    @Test(arguments: ["cpu", "reference"], ArchitectureFixture.shared.cases.indices)
    func logitsAndGreedyTokensMatchBothReferees(backend: String, index: Int) throws {
        let c = ArchitectureFixture.shared.cases[index]
        let label = "\(backend) \(c.architecture) prompt of \(c.prompt_ids.count)"
        let session = Referee.Session(try Self.forward(c, backend: backend), capacity: 128)
        let logits = session.run(c.prompt_ids)
        // llama.cpp runs the same arithmetic (8-bit activations against Q8_0 weights, f16 KV): the README's
        // tolerance. Transformers runs float activations, which llama.cpp itself is this far from (std up to
        // 0.27 here): ours may be that far plus the same tolerance.
        let (spread, worst) = Referee.difference(logits, c.llamacpp_logits)
        #expect(
            spread < Referee.maxSpread && worst < Referee.maxDifference,
            "\(label) vs llama.cpp: logit difference std \(spread), max \(worst)"
        )
        let (floatSpread, floatWorst) = Referee.difference(logits, c.transformers_logits)
        let (peerSpread, peerWorst) = Referee.difference(c.llamacpp_logits, c.transformers_logits)
        #expect(
            floatSpread < peerSpread + Referee.maxSpread && floatWorst < peerWorst + Referee.maxDifference,
            "\(label) vs transformers: logit difference std \(floatSpread), max \(floatWorst) (llama.cpp's: std \(peerSpread), max \(peerWorst))"
        )
        print("\(label): logit difference std \(spread) (llama.cpp), \(floatSpread) (transformers)")
        // A near-tie against transformers also allows for each candidate moving by as much as float against
        // 8-bit activations moves a logit (llama.cpp's largest difference from transformers, twice).
        for (referee, expected, margin) in [
            ("transformers", c.transformers_greedy, Referee.tieMargin + 2 * Float(peerWorst)),
            ("llama.cpp", c.llamacpp_greedy, Referee.tieMargin),
        ] {
            let forced = Referee.Session(session.forward, capacity: 128)
            forced.run(c.prompt_ids)
            let path = Referee.teacherForced(forced, expected: expected)
            print("\(label) vs \(referee), teacher forced: \(path)")
            for difference in path.differences {
                #expect(difference.gap < margin, "\(label) vs \(referee): \(path)")
            }
        }
    }
}

/// The same tiny models as Hugging Face checkpoints (`arch-<name>-hf/`: config.json, float32 safetensors,
/// tokenizer.json), loaded through `Checkpoint`. With `--quantization q8_0` they become the very Q8_0 bytes
/// llama.cpp's converter layout gives, so their logits equal the GGUF's exactly, and their tokenizer is the
/// GGUF's. Kept as floats (`--dtype`), they run transformers' own arithmetic: float weights, float
/// activations.
@Suite struct CheckpointTests {
    @Test(arguments: ["llama", "qwen2", "qwen3", "phi3", "gemma2"])
    func aCheckpointRunsAsItsGGUF(architecture: String) throws {
        let checkpoint = try ModelFile(
            path: ArchitectureFixture.path(of: "arch-\(architecture)-hf"),
            weights: WeightFormat(quantization: "q8_0")
        )
        let file = try ModelFile(path: ArchitectureFixture.path(of: "arch-\(architecture).gguf"))
        #expect(checkpoint.config == file.config)
        let prompt = try #require(ArchitectureFixture.shared.cases.last { $0.architecture == architecture }).prompt_ids
        var logits: [[Float]] = []
        for model in [checkpoint, file] {
            let forward = try ModelRegistry.makeForward(gguf: model.gguf, backend: CPUBackend(threads: 2), maxBatch: 64)
            logits.append(Referee.Session(forward, capacity: 128).run(prompt))
        }
        #expect(logits[0] == logits[1], "\(architecture): \(Referee.difference(logits[0], logits[1]))")
        let text = "Hello world, the tiny model's 12345 tokens\n\t é"
        #expect(checkpoint.tokenizer.encode(text) == file.tokenizer.encode(text))
        #expect(checkpoint.tokenizer.specialIDs == file.tokenizer.specialIDs)
    }
}

extension CheckpointTests {
    /// float32 (`auto`: the fixtures' torch_dtype), float16 and bfloat16 weights on the CPU backend's float
    /// kernels and on the reference backend, against transformers (float32 weights and activations): logits
    /// within the README's tolerance (bfloat16, 8 bits of each weight, moves them most: std up to 0.1 here)
    /// and greedy tokens equal but at near-ties.
    @Test(arguments: ["auto", "float16", "bfloat16"], ArchitectureFixture.shared.cases.indices)
    func floatWeightsMatchTransformers(dtype: String, index: Int) throws {
        let c = ArchitectureFixture.shared.cases[index]
        let model = try ModelFile(
            path: ArchitectureFixture.path(of: "arch-\(c.architecture)-hf"),
            weights: WeightFormat(dtype: dtype)
        )
        let expectedType: GGMLType = dtype == "auto" ? .f32 : dtype == "float16" ? .f16 : .bf16
        #expect(model.gguf.tensors.first { $0.name == "blk.0.ffn_down.weight" }?.type == expectedType)
        for backend in ["cpu", "reference"] {
            let label = "\(backend) \(c.architecture) \(dtype) prompt of \(c.prompt_ids.count)"
            let chosen: any Backend = backend == "cpu" ? CPUBackend(threads: 2) : ReferenceBackend()
            let forward = try ModelRegistry.makeForward(gguf: model.gguf, backend: chosen, maxBatch: 64)
            let session = Referee.Session(forward, capacity: 128)
            let (spread, worst) = Referee.difference(session.run(c.prompt_ids), c.transformers_logits)
            print("\(label) vs transformers: logit difference std \(spread), max \(worst)")
            #expect(
                spread < Referee.maxSpread && worst < Referee.maxDifference,
                "\(label) vs transformers: logit difference std \(spread), max \(worst)"
            )
            let forced = Referee.Session(forward, capacity: 128)
            forced.run(c.prompt_ids)
            let path = Referee.teacherForced(forced, expected: c.transformers_greedy)
            for difference in path.differences {
                #expect(difference.gap < Referee.tieMargin, "\(label) vs transformers: \(path)")
            }
        }
    }
}

extension CheckpointTests {
    /// Gemma 2's soft caps and window each matter on the tiny model: with one lifted (a cap of 10,000, a window
    /// as long as the context) its logits miss transformers' by more than the tolerance.
    @Test func gemma2WithoutItsCapsAndWindowWouldFail() throws {
        let c = try #require(ArchitectureFixture.shared.cases.last { $0.architecture == "gemma2" })
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("swerve-gemma2-\(UUID().uuidString)")
        try FileManager.default.copyItem(
            at: URL(fileURLWithPath: ArchitectureFixture.path(of: "arch-gemma2-hf")),
            to: copy
        )
        defer { try? FileManager.default.removeItem(at: copy) }
        let url = copy.appendingPathComponent("config.json")
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        for (key, value) in [
            ("attn_logit_softcapping", 10_000), ("final_logit_softcapping", 10_000), ("sliding_window", 512),
        ] {
            var config = original
            config[key] = value
            try JSONSerialization.data(withJSONObject: config).write(to: url)
            let model = try ModelFile(path: copy.path)
            let forward = try ModelRegistry.makeForward(gguf: model.gguf, backend: CPUBackend(threads: 2), maxBatch: 64)
            let (spread, worst) = Referee.difference(
                Referee.Session(forward, capacity: 128).run(c.prompt_ids),
                c.transformers_logits
            )
            #expect(
                spread > Referee.maxSpread || worst > Referee.maxDifference,
                "without \(key): std \(spread), max \(worst)"
            )
        }
    }
}
