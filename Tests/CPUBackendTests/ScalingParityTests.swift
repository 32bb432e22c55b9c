import CPUBackend
import Foundation
import GGUF
import Models
import ReferenceBackend
import SwerveCore
import TestSupport
import Testing

/// Mistral's sliding window on every layer, linear RoPE scaling and Llama 3's smoothed RoPE scaling, each on
/// a tiny checkpoint (scripts/make-scaling-fixtures.py), on the CPU and reference backends against
/// transformers: logits within the README's tolerance and greedy tokens equal but at near-ties. The same
/// checkpoint with the setting removed from config.json misses transformers by far more, so each test fails
/// if the setting is ignored.
@Suite struct ScalingParityTests {
    static func logits(_ directory: String, backend: String, prompt: [Int]) throws -> (Referee.Session, [Float]) {
        let model = try ModelFile(path: directory)
        let chosen: any Backend = backend == "cpu" ? CPUBackend(threads: 2) : ReferenceBackend()
        let session = Referee.Session(
            try ModelRegistry.makeForward(gguf: model.gguf, backend: chosen, maxBatch: 64),
            capacity: 128
        )
        return (session, session.run(prompt))
    }

    @Test(arguments: ["cpu", "reference"], ScalingFixture.shared.cases.indices)
    func matchesTransformers(backend: String, index: Int) throws {
        let c = ScalingFixture.shared.cases[index]
        let label = "\(backend) \(c.model) prompt of \(c.prompt_ids.count)"
        let directory = ArchitectureFixture.path(of: c.directory)
        let (session, logits) = try Self.logits(directory, backend: backend, prompt: c.prompt_ids)
        let (spread, worst) = Referee.difference(logits, c.transformers_logits)
        print("\(label) vs transformers: logit difference std \(spread), max \(worst)")
        #expect(
            spread < Referee.maxSpread && worst < Referee.maxDifference,
            "\(label) vs transformers: logit difference std \(spread), max \(worst)"
        )
        let forced = Referee.Session(session.forward, capacity: 128)
        forced.run(c.prompt_ids)
        let path = Referee.teacherForced(forced, expected: c.transformers_greedy)
        for difference in path.differences {
            #expect(difference.gap < Referee.tieMargin, "\(label) vs transformers: \(path)")
        }
    }

    /// Without the setting, the same weights miss transformers' logits by more than the tolerance.
    @Test(
        arguments: ScalingFixture.shared.cases.indices.filter { ScalingFixture.shared.cases[$0].prompt_ids.count > 32 }
    )
    func ignoringTheSettingWouldFail(index: Int) throws {
        let c = ScalingFixture.shared.cases[index]
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("swerve-scaled-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: ArchitectureFixture.path(of: c.directory)), to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        let url = copy.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        config["sliding_window"] = nil
        config["rope_parameters"] = ["rope_type": "default", "rope_theta": 10_000.0]
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        let (_, logits) = try Self.logits(copy.path, backend: "cpu", prompt: c.prompt_ids)
        let (spread, worst) = Referee.difference(logits, c.transformers_logits)
        #expect(
            spread > Referee.maxSpread || worst > Referee.maxDifference,
            "\(c.model) without its setting: std \(spread), max \(worst)"
        )
    }

    /// The checkpoint loader writes what llama.cpp's converter would: the window and linear factor as
    /// metadata, Llama 3's divisors as `rope_freqs` (1 for short wavelengths, the factor for long ones).
    @Test func theLoaderWritesLlamaCppsKeys() throws {
        let window = try ModelFile(path: ArchitectureFixture.path(of: "scaled-mistral-window-hf"))
        #expect(window.config.slidingWindow == 8 && window.config.isSlidingWindowLayer(1))
        let linear = try ModelFile(path: ArchitectureFixture.path(of: "scaled-llama-linear-hf"))
        #expect(linear.config.ropeFrequencyScale == 0.25)
        let llama3 = try ModelFile(path: ArchitectureFixture.path(of: "scaled-llama-llama3-hf"))
        let factors = try llama3.gguf.tensor("rope_freqs.weight").dequantized()
        #expect(factors.count == 16 && factors.first == 1 && factors.last == 8)
        #expect(factors.contains { $0 > 1 && $0 < 8 }, "\(factors)")
    }
}
