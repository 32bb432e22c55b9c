import GGUF
import SwerveCore

/// The Gemma 2 and 3 decoders: embeddings scaled by √width, NeoX-style RoPE with a local base on
/// sliding-window layers and the global base on the layers that see the whole context (every sixth in Gemma
/// 3, every second in Gemma 2), norms before and after attention and the feed-forward block, GeGLU (tanh),
/// tied output. Gemma 3 adds per-head RMSNorm of q and k; Gemma 2 soft-caps the attention scores and the
/// final logits and scales queries by its own factor. As in llama.cpp, the GGUF norm weights already include
/// Gemma's +1.
public final class GemmaForward: ForwardPass, @unchecked Sendable {
    /// What one Gemma generation adds to the shared block.
    public struct Variant: Sendable {
        /// `attn_q_norm.weight`, `attn_k_norm.weight` (Gemma 3).
        public var qkNorm: Bool
        /// Scores are scaled by this (Gemma 2: 1/√query_pre_attn_scalar as llama.cpp derives it); nil:
        /// 1/√head width.
        public var attentionScale: Float?
        /// cap · tanh(x / cap) on attention scores and on the final logits (0: none; Gemma 2: 50 and 30).
        public var attentionSoftcap: Float
        public var finalSoftcap: Float
        /// Whether sliding-window layers take the global layers' linear RoPE scale (Gemma 2) or none
        /// (Gemma 3), as llama.cpp does.
        public var scalesLocalRoPE: Bool

        public init(
            qkNorm: Bool,
            attentionScale: Float? = nil,
            attentionSoftcap: Float = 0,
            finalSoftcap: Float = 0,
            scalesLocalRoPE: Bool = false
        ) {
            self.qkNorm = qkNorm
            self.attentionScale = attentionScale
            self.attentionSoftcap = attentionSoftcap
            self.finalSoftcap = finalSoftcap
            self.scalesLocalRoPE = scalesLocalRoPE
        }
    }

    public let config: ModelConfig
    public let backend: any Backend
    public let maxBatch: Int
    public let maxSequences: Int
    let scratch: DecoderScratch
    let layers: [Layer]
    let ends: Ends
    let variant: Variant

    struct Layer {
        var attnNorm: BackendTensor
        /// q and k norms, with `qkNorm`.
        var qkNorms: [BackendTensor]
        var postAttnNorm, ffnNorm, postFfnNorm: BackendTensor
        var projections: Projections
        /// Sliding-window layers attend to the last `window` positions with the local RoPE base (unscaled in
        /// Gemma 3: `Variant.scalesLocalRoPE`).
        var window: Int?
        var rope: RoPEFrequencies
    }

    public init(
        gguf: GGUFFile,
        config: ModelConfig,
        backend: any Backend,
        maxBatch: Int,
        maxSequences: Int,
        variant: Variant
    ) throws {
        self.config = config
        self.variant = variant
        self.backend = backend
        self.maxBatch = maxBatch
        self.maxSequences = maxSequences
        let load = WeightLoader(gguf: gguf, backend: backend, config: config)
        ends = try load.ends()
        let global = try load.ropeFrequencies(config)
        let local = RoPEFrequencies(
            base: Float(config.ropeFrequencyBaseSliding),
            scale: variant.scalesLocalRoPE ? global.scale : 1
        )
        layers = try (0..<config.blockCount).map { b in
            let p = "blk.\(b)."
            let sliding = config.isSlidingWindowLayer(b)
            return Layer(
                attnNorm: try load(p + "attn_norm.weight"),
                qkNorms: try load.qkNorms(block: b, present: variant.qkNorm),
                postAttnNorm: try load(p + "post_attention_norm.weight"),
                ffnNorm: try load(p + "ffn_norm.weight"),
                postFfnNorm: try load(p + "post_ffw_norm.weight"),
                projections: try load.projections(block: b, config: config),
                window: config.window(ofLayer: b),
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
        let b = backend
        layout.tokens.withUnsafeBufferPointer { tokens in
            b.embed(tokens, table: ends.embedding, scale: Float(c.embeddingLength).squareRoot(), into: s.x)
        }
        for (index, layer) in layers.enumerated() {
            b.rmsNorm(s.x, rows: n, weight: layer.attnNorm, epsilon: eps, groupSize: nil, into: s.normed)
            b.matmul(s.normed, rows: n, weights: layer.projections.qkv, into: s.qkvOutputs)
            s.attend(
                backend: b,
                layout: layout,
                cache: cache,
                layer: index,
                config: c,
                qkNorms: layer.qkNorms,
                rope: layer.rope,
                style: .neox,
                window: layer.window,
                scale: variant.attentionScale,
                softcap: variant.attentionSoftcap
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
        let logits = s.finish(backend: b, layout: layout, ends: ends, epsilon: eps)
        if variant.finalSoftcap > 0 { b.softcap(logits, rows: layout.logitRows.count, cap: variant.finalSoftcap) }
        return logits
    }
}
