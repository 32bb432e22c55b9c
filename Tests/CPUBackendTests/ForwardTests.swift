import CPUBackend
import GGUF
import Models
import ReferenceBackend
import TestSupport
import Testing

/// The CPU backend against the plain-Swift reference on tiny synthetic models of both architectures, and
/// against itself: one batch or token by token, one thread or two.
@Suite struct ForwardTests {
    static let tokens = [3, 17, 42, 8, 8, 60, 1, 33, 25, 70, 11, 5]

    static func model(_ architecture: String) throws -> GGUFFile {
        architecture == "llama" ? try SyntheticModel.llama() : try SyntheticModel.gemma3()
    }

    /// Logits after each token, one token per call.
    static func stepwise(_ forward: any ForwardPass) -> [[Float]] {
        let session = Referee.Session(forward, capacity: 64)
        return tokens.map { session.run([$0]) }
    }

    @Test(arguments: ["llama", "gemma3"])
    func matchesReference(architecture: String) throws {
        let gguf = try Self.model(architecture)
        let reference = Self.stepwise(
            try ModelRegistry.makeForward(gguf: gguf, backend: ReferenceBackend(), maxBatch: 1)
        )
        let cpu = Self.stepwise(try ModelRegistry.makeForward(gguf: gguf, backend: CPUBackend(threads: 2), maxBatch: 1))
        for (step, (ours, theirs)) in zip(cpu, reference).enumerated() {
            let scale = theirs.map(abs).max()!
            let (_, worst) = Referee.difference(ours, theirs)
            // llama's Q4_1/Q8_0 use the same block arithmetic in both backends; the reference multiplies
            // Gemma's Q5_0 and K-quant weights by f32 activations, this backend by 8-bit ones.
            let tolerance = architecture == "llama" ? 1e-3 : 5e-2
            #expect(
                worst <= tolerance * Double(scale),
                "\(architecture) step \(step): max diff \(worst), logit scale \(scale)"
            )
            #expect(ours.indices.max { ours[$0] < ours[$1] } == theirs.indices.max { theirs[$0] < theirs[$1] })
        }
    }

    @Test(arguments: ["llama", "gemma3"])
    func batchedPrefillMatchesTokenByToken(architecture: String) throws {
        let gguf = try Self.model(architecture)
        let stepwise = Self.stepwise(
            try ModelRegistry.makeForward(gguf: gguf, backend: CPUBackend(threads: 2), maxBatch: 1)
        )
        // maxBatch 5: the prompt runs in chunks of 5, 5, 2.
        let session = Referee.Session(
            try ModelRegistry.makeForward(gguf: gguf, backend: CPUBackend(threads: 2), maxBatch: 5)
        )
        let batched = session.run(Self.tokens)
        let (_, worst) = Referee.difference(batched, stepwise.last!)
        #expect(worst < 1e-4 * Double(batched.map(abs).max()!), "\(architecture): max diff \(worst)")
    }

    /// Every kernel level this CPU has gives the same logits, bit for bit (the packed GEMM and its
    /// quantization are exact at every level; the other kernels follow the process's level).
    @Test(arguments: ["llama", "gemma3"])
    func everyLevelGivesTheSameLogits(architecture: String) throws {
        let gguf = try Self.model(architecture)
        var first: [[Float]]?
        for level in PackedGEMMTests.levels {
            let backend = CPUBackend(threads: 2, isa: level)
            let session = Referee.Session(try ModelRegistry.makeForward(gguf: gguf, backend: backend, maxBatch: 16))
            let logits = [session.run(Self.tokens), session.run([9]), session.run([4])]
            if let first {
                #expect(logits == first, "\(architecture) at \(backend.description)")
            } else {
                first = logits
            }
        }
    }

    @Test(arguments: ["llama", "gemma3"])
    func threadCountDoesNotChangeResults(architecture: String) throws {
        let gguf = try Self.model(architecture)
        let one = Referee.Session(
            try ModelRegistry.makeForward(gguf: gguf, backend: CPUBackend(threads: 1), maxBatch: 16)
        )
        let three = Referee.Session(
            try ModelRegistry.makeForward(gguf: gguf, backend: CPUBackend(threads: 3), maxBatch: 16)
        )
        #expect(one.run(Self.tokens) == three.run(Self.tokens))
        #expect(one.run([9]) == three.run([9]))
    }

    /// A decode row deals its heads out to the threads in ranges (`Job.attention`): the logits are those
    /// of one thread, bit for bit, over a long context and windowed layers too.
    @Test(arguments: ["llama", "gemma3"])
    func decodeHeadRangesMatchOneThread(architecture: String) throws {
        let gguf = try Self.model(architecture)
        let prompt = (0..<190).map { Self.tokens[$0 % Self.tokens.count] + $0 % 7 }
        let sessions = try [1, 2, 3].map { threads in
            let backend = CPUBackend(threads: threads)
            return Referee.Session(try ModelRegistry.makeForward(gguf: gguf, backend: backend, maxBatch: 16))
        }
        for session in sessions { session.run(prompt) }
        for token in [9, 4, 30] {
            let logits = sessions.map { $0.run([token]) }
            #expect(logits[1] == logits[0] && logits[2] == logits[0], "\(architecture) after \(token)")
        }
    }
}
