import GGUF
import SwerveCore

/// The Gemma 3 decoder: embeddings scaled by √width, per-head RMSNorm of q and k, NeoX-style RoPE with a
/// local base on sliding-window layers and the global base on every sixth layer (which sees the whole
/// context), norms before and after attention and the feed-forward block, GeGLU (tanh), tied output.
/// As in llama.cpp, the GGUF norm weights already include Gemma's +1.
public final class Gemma3Forward: ForwardPass, @unchecked Sendable {
    public let config: ModelConfig
    public let backend: any Backend
    public let maxBatch: Int
    public let maxSequences: Int
    let scratch: DecoderScratch
    let layers: [Layer]
    let ends: Ends

    struct Layer {
        var attnNorm, qNorm, kNorm, postAttnNorm, ffnNorm, postFfnNorm: BackendTensor
        var projections: Projections
        /// Sliding-window layers attend to the last `window` positions with the local RoPE base, unscaled
        /// (llama.cpp's Gemma 3: a linear scaling factor applies to the global layers only).
        var window: Int?
        var rope: RoPEFrequencies
    }

    public init(gguf: GGUFFile, config: ModelConfig, backend: any Backend, maxBatch: Int, maxSequences: Int) throws {
        self.config = config
        self.backend = backend
        self.maxBatch = maxBatch
        self.maxSequences = maxSequences
        let load = WeightLoader(gguf: gguf, backend: backend)
        ends = try load.ends()
        let global = try load.ropeFrequencies(config)
        let local = RoPEFrequencies(base: Float(config.ropeFrequencyBaseSliding))
        layers = try (0..<config.blockCount).map { b in
            let p = "blk.\(b)."
            let sliding = config.slidingWindow != nil && config.isSlidingWindowLayer(b)
            return Layer(
                attnNorm: try load(p + "attn_norm.weight"),
                qNorm: try load(p + "attn_q_norm.weight"),
                kNorm: try load(p + "attn_k_norm.weight"),
                postAttnNorm: try load(p + "post_attention_norm.weight"),
                ffnNorm: try load(p + "ffn_norm.weight"),
                postFfnNorm: try load(p + "post_ffw_norm.weight"),
                projections: try load.projections(block: b, config: config),
                window: sliding ? config.slidingWindow : nil,
                rope: sliding ? local : global
            )
        }
        scratch = DecoderScratch(config: config, backend: backend, maxBatch: maxBatch, maxSequences: maxSequences)
    }

    public func forward(_ layout: BatchLayout, cache: BackendTensor) -> BackendTensor {
        precondition(layout.rowCount <= maxBatch && layout.logitRows.count <= maxSequences, "batch too large")
        backend.prepare(layout)
        let c = config
        let s = scratch
        let n = layout.rowCount
        let eps = Float(c.rmsNormEpsilon)
        let d = c.headDimension
        let b = backend
        layout.tokens.withUnsafeBufferPointer { tokens in
            b.embed(tokens, table: ends.embedding, scale: Float(c.embeddingLength).squareRoot(), into: s.x)
        }
        for (index, layer) in layers.enumerated() {
            b.rmsNorm(s.x, rows: n, weight: layer.attnNorm, epsilon: eps, groupSize: nil, into: s.normed)
            b.matmul(s.normed, rows: n, weights: layer.projections.qkv, into: s.qkvOutputs)
            b.rmsNorm(s.q, rows: n, weight: layer.qNorm, epsilon: eps, groupSize: d, into: s.q)
            b.rmsNorm(s.k, rows: n, weight: layer.kNorm, epsilon: eps, groupSize: d, into: s.k)
            s.attend(
                backend: b,
                layout: layout,
                cache: cache,
                layer: index,
                config: c,
                rope: layer.rope,
                style: .neox,
                window: layer.window
            )
            b.matmul(s.attended, rows: n, weights: layer.projections.wo, into: s.projectedOutputs)
            b.rmsNorm(s.projected, rows: n, weight: layer.postAttnNorm, epsilon: eps, groupSize: nil, into: s.projected)
            b.add(s.projected, rows: n, into: s.x)
            b.rmsNorm(s.x, rows: n, weight: layer.ffnNorm, epsilon: eps, groupSize: nil, into: s.normed)
            b.matmul(s.normed, rows: n, weights: layer.projections.gateUp, into: s.gateUpOutputs)
            b.gated(s.gate, s.up, rows: n, activation: .geluTanh, into: s.gate)
            b.matmul(s.gate, rows: n, weights: layer.projections.down, into: s.projectedOutputs)
            b.rmsNorm(s.projected, rows: n, weight: layer.postFfnNorm, epsilon: eps, groupSize: nil, into: s.projected)
            b.add(s.projected, rows: n, into: s.x)
        }
        return s.finish(backend: b, layout: layout, ends: ends, epsilon: eps)
    }
}
