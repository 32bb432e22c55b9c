import GGUF
import SwerveCore

/// One model's forward pass written as `Backend` operations, with the scratch buffers a batch needs.
///
/// One caller at a time (the engine's loop): conforming classes are `@unchecked Sendable` so the owner can
/// hand the pass between tasks, not so two can run it at once. Each sequence's KV cache is a separate
/// backend tensor from `makeCache`, so one forward pass serves any number of sequences in turn.
public protocol ForwardPass: AnyObject, Sendable {
    var config: ModelConfig { get }
    var backend: any Backend { get }
    /// Most tokens one `forward` call takes; longer inputs are run in chunks of this size.
    var maxBatch: Int { get }
    /// Runs at most `maxBatch` tokens at positions `firstPosition...` of the sequence `cache` holds and
    /// writes the last token's logits into `logits` (`config.vocabularySize` values).
    func forwardBatch(
        _ tokens: UnsafeBufferPointer<Int32>,
        firstPosition: Int,
        cache: BackendTensor,
        logits: UnsafeMutableBufferPointer<Float>
    )
}

extension ForwardPass {
    /// A KV cache for one sequence of up to `capacity` positions.
    public func makeCache(capacity: Int) -> BackendTensor {
        backend.makeKVCache(
            layers: config.blockCount,
            capacity: capacity,
            width: config.headCountKV * config.headDimension
        )
    }

    /// Runs any number of tokens (in chunks of `maxBatch`) and writes the last one's logits.
    public func forward(
        _ tokens: UnsafeBufferPointer<Int32>,
        firstPosition: Int,
        cache: BackendTensor,
        logits: UnsafeMutableBufferPointer<Float>
    ) {
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + maxBatch)
            forwardBatch(
                UnsafeBufferPointer(rebasing: tokens[start..<end]),
                firstPosition: firstPosition + start,
                cache: cache,
                logits: logits
            )
            start = end
        }
    }
}

/// The activation buffers every decoder layer reuses, sized for `maxBatch` tokens.
struct DecoderScratch {
    let x, normed, q, k, v, attended, projected, gate, up: BackendTensor
    let last, lastNormed, logits: BackendTensor
    /// Output lists for `Backend.matmul`, built once so the decode loop allocates nothing.
    let qkvOutputs, gateUpOutputs, projectedOutputs, logitsOutputs: [BackendTensor]

    init(config c: ModelConfig, backend: any Backend, maxBatch: Int) {
        let qWidth = c.headCount * c.headDimension
        let kvWidth = c.headCountKV * c.headDimension
        func buffer(_ columns: Int) -> BackendTensor { backend.makeActivations(rows: maxBatch, columns: columns) }
        x = buffer(c.embeddingLength)
        normed = buffer(c.embeddingLength)
        q = buffer(qWidth)
        k = buffer(kvWidth)
        v = buffer(kvWidth)
        attended = buffer(qWidth)
        projected = buffer(c.embeddingLength)
        gate = buffer(c.feedForwardLength)
        up = buffer(c.feedForwardLength)
        last = backend.makeActivations(rows: 1, columns: c.embeddingLength)
        lastNormed = backend.makeActivations(rows: 1, columns: c.embeddingLength)
        logits = backend.makeActivations(rows: 1, columns: c.vocabularySize)
        qkvOutputs = [q, k, v]
        gateUpOutputs = [gate, up]
        projectedOutputs = [projected]
        logitsOutputs = [logits]
    }
}

/// Loads named tensors into a backend with errors that name what is missing.
struct WeightLoader {
    let gguf: GGUFFile
    let backend: any Backend

    func callAsFunction(_ name: String) throws -> BackendTensor {
        try backend.load(gguf.tensor(name))
    }

    /// `output.weight`, or the token embedding when the output is tied to it.
    func output() throws -> BackendTensor {
        try self(gguf.info("output.weight") == nil ? "token_embd.weight" : "output.weight")
    }
}
