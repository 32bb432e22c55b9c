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

extension DecoderScratch {
    /// Final norm and output head of the last row only; logits copied to `logits`.
    func finish(
        backend b: any Backend,
        rows n: Int,
        ends: Ends,
        epsilon: Float,
        logits destination: UnsafeMutableBufferPointer<Float>
    ) {
        b.copyRow(x, row: n - 1, into: last)
        b.rmsNorm(last, rows: 1, weight: ends.outputNorm, epsilon: epsilon, groupSize: nil, into: lastNormed)
        b.matmul(lastNormed, rows: 1, weights: ends.output, into: logitsOutputs)
        b.read(logits, row: 0, into: destination)
    }
}

/// A decoder block's projection matrices, as the lists `Backend.matmul` takes (q/k/v share an input, and
/// so do gate/up).
struct Projections {
    var qkv, wo, gateUp, down: [BackendTensor]
}

/// The tensors around the decoder blocks: token embedding, final norm, output head.
struct Ends {
    var embedding, outputNorm: BackendTensor
    /// The output head (`output.weight`, or the embedding when tied), as the one-element list `matmul` takes.
    var output: [BackendTensor]
}

/// Loads named tensors into a backend with errors that name what is missing.
struct WeightLoader {
    let gguf: GGUFFile
    let backend: any Backend

    func callAsFunction(_ name: String) throws -> BackendTensor {
        try backend.load(gguf.tensor(name))
    }

    func ends() throws -> Ends {
        Ends(
            embedding: try self("token_embd.weight"),
            outputNorm: try self("output_norm.weight"),
            output: [try self(gguf.info("output.weight") == nil ? "token_embd.weight" : "output.weight")]
        )
    }

    func projections(block: Int) throws -> Projections {
        let p = "blk.\(block)."
        return Projections(
            qkv: [try self(p + "attn_q.weight"), try self(p + "attn_k.weight"), try self(p + "attn_v.weight")],
            wo: [try self(p + "attn_output.weight")],
            gateUp: [try self(p + "ffn_gate.weight"), try self(p + "ffn_up.weight")],
            down: [try self(p + "ffn_down.weight")]
        )
    }
}
