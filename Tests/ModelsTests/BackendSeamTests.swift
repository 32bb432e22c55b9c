import GGUF
import Models
import ReferenceBackend
import SwerveCore
import TestSupport
import Testing

/// The backend seam an accelerator fills: one `prepare` per step, before its operations, and a backend
/// that supplies an architecture's whole forward pass gets it used instead of the op-by-op default.
@Suite struct BackendSeamTests {
    /// A forward pass a backend supplies: here the default one, marked.
    final class Supplied: ForwardPass, @unchecked Sendable {
        let inner: any ForwardPass
        var steps = 0
        init(_ inner: any ForwardPass) { self.inner = inner }
        var config: ModelConfig { inner.config }
        var backend: any Backend { inner.backend }
        var maxBatch: Int { inner.maxBatch }
        var maxSequences: Int { inner.maxSequences }
        func forward(_ layout: BatchLayout, cache: BackendTensor) -> BackendTensor {
            steps += 1
            return inner.forward(layout, cache: cache)
        }
    }

    /// Supplies llama's forward pass, leaves every other architecture to the default.
    final class Supplying: ReferenceBackend, ForwardPassProvider, @unchecked Sendable {
        func makeForward(
            gguf: GGUFFile,
            config: ModelConfig,
            maxBatch: Int,
            maxSequences: Int
        ) throws
            -> (any ForwardPass)?
        {
            guard config.architecture == "llama" else { return nil }
            return Supplied(
                try LlamaArchitecture.makeForward(
                    gguf: gguf,
                    config: config,
                    backend: self,
                    maxBatch: maxBatch,
                    maxSequences: maxSequences
                )
            )
        }
    }

    @Test(arguments: ["llama", "gemma3"])
    func everyStepIsPreparedOnceBeforeItsOperations(architecture: String) throws {
        let gguf = architecture == "llama" ? try SyntheticModel.llama() : try SyntheticModel.gemma3()
        let backend = ReferenceBackend()
        let forward = try ModelRegistry.makeForward(gguf: gguf, backend: backend, maxBatch: 8)
        let cache = forward.makeCache(capacity: 64)
        var logits = [Float](repeating: 0, count: forward.config.vocabularySize)
        let prompt: [Int32] = Array(1...20)  // three steps of at most 8 tokens
        prompt.withUnsafeBufferPointer { ids in
            logits.withUnsafeMutableBufferPointer { forward.forward(ids, firstPosition: 0, cache: cache, logits: $0) }
        }
        #expect(backend.preparedRows == [8, 8, 4])
    }

    @Test func aBackendsOwnForwardPassIsUsedForItsArchitecturesOnly() throws {
        let backend = Supplying()
        let llama = try ModelRegistry.makeForward(gguf: SyntheticModel.llama(), backend: backend, maxBatch: 8)
        let supplied = try #require(llama as? Supplied)
        let gemma = try ModelRegistry.makeForward(gguf: SyntheticModel.gemma3(), backend: backend, maxBatch: 8)
        #expect(!(gemma is Supplied))
        let cache = llama.makeCache(capacity: 16)
        var logits = [Float](repeating: 0, count: llama.config.vocabularySize)
        [Int32(3), 4, 5].withUnsafeBufferPointer { ids in
            logits.withUnsafeMutableBufferPointer { llama.forward(ids, firstPosition: 0, cache: cache, logits: $0) }
        }
        #expect(supplied.steps == 1 && logits.contains { $0 != 0 })
    }

    /// Every tensor says what it holds; activations other than f32 are refused with the backend's name
    /// (neither host backend keeps half-precision activations).
    @Test func tensorsCarryTheirTypeAndHalfActivationsAreRefusedClearly() throws {
        let backend = ReferenceBackend()
        let forward = try ModelRegistry.makeForward(gguf: SyntheticModel.llama(), backend: backend, maxBatch: 4)
        #expect(forward.makeKVCache(blocks: 2, blockSize: 16, type: .q8_0).dtype == .kv(.q8_0))
        #expect(try backend.makeActivations(rows: 2, columns: 8, dtype: .f32).dtype == .f32)
        #expect(throws: BackendError.unsupportedActivations(.bf16, backend: backend.description)) {
            try backend.makeActivations(rows: 2, columns: 8, dtype: .bf16)
        }
        #expect("\(BackendError.unsupportedActivations(.f16, backend: "cpu"))".contains("f32 only, not f16"))
    }
}
