import CPUBackend
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
        for (referee, expected) in [("transformers", c.transformers_greedy), ("llama.cpp", c.llamacpp_greedy)] {
            let forced = Referee.Session(session.forward, capacity: 128)
            forced.run(c.prompt_ids)
            let path = Referee.teacherForced(forced, expected: expected)
            print("\(label) vs \(referee), teacher forced: \(path)")
            for difference in path.differences {
                #expect(difference.gap < Referee.tieMargin, "\(label) vs \(referee): \(path)")
            }
        }
    }
}
