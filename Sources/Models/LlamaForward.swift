import GGUF
import SwerveCore

/// The llama decoder (SmolLM2, Llama 2/3, Mistral) and its close variants: RMSNorm, q/k/v projections
/// (with biases in Qwen2, per-head q/k RMSNorm in Qwen3), RoPE (adjacent pairs in GGUF's llama layout,
/// NeoX halves in Qwen's; linear or Llama 3 scaled frequencies as the file says), causal grouped-query
/// attention (through a sliding window on every layer where the file sets one: Mistral v0.1, Phi-3),
/// output projection, SwiGLU, residuals, final norm and the (possibly tied) output head.
public final class LlamaForward: ForwardPass, @unchecked Sendable {
    /// What a llama-family architecture adds to the plain llama block.
    public struct Variant: Sendable {
        public var ropeStyle: RoPEStyle = .adjacentPairs
        /// `attn_q.bias`, `attn_k.bias`, `attn_v.bias` (Qwen2).
        public var qkvBias = false
        /// `attn_q_norm.weight`, `attn_k_norm.weight`: RMSNorm of each head of q and k before RoPE (Qwen3).
        public var qkNorm = false

        public init(ropeStyle: RoPEStyle = .adjacentPairs, qkvBias: Bool = false, qkNorm: Bool = false) {
            self.ropeStyle = ropeStyle
            self.qkvBias = qkvBias
            self.qkNorm = qkNorm
        }

        /// The tensors each block has besides the plain llama block's.
        var blockTensors: [String] {
            (qkvBias ? ["attn_q.bias", "attn_k.bias", "attn_v.bias"] : [])
                + (qkNorm ? ["attn_q_norm.weight", "attn_k_norm.weight"] : [])
        }
    }

    /// The plain llama block's tensors.
    static let blockTensors = [
        "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
        "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
    ]

    public let config: ModelConfig
    public let backend: any Backend
    public let maxBatch: Int
    public let maxSequences: Int
    let variant: Variant
    let scratch: DecoderScratch
    let layers: [Layer]
    let rope: RoPEFrequencies
    let ends: Ends

    struct Layer {
        var attnNorm, ffnNorm: BackendTensor
        var projections: Projections
        /// q, k and v biases, with `qkvBias`.
        var biases: [BackendTensor]
        /// q and k norms, with `qkNorm`.
        var qkNorms: [BackendTensor]
    }

    public init(
        gguf: GGUFFile,
        config: ModelConfig,
        backend: any Backend,
        maxBatch: Int,
        maxSequences: Int,
        variant: Variant = Variant()
    ) throws {
        self.config = config
        self.backend = backend
        self.maxBatch = maxBatch
        self.maxSequences = maxSequences
        self.variant = variant
        let load = WeightLoader(gguf: gguf, backend: backend, config: config)
        ends = try load.ends()
        rope = try load.ropeFrequencies(config)
        layers = try (0..<config.blockCount).map { b in
            let p = "blk.\(b)."
            return Layer(
                attnNorm: try load(p + "attn_norm.weight"),
                ffnNorm: try load(p + "ffn_norm.weight"),
                projections: try load.projections(block: b, config: config),
                biases: variant.qkvBias ? try ["q", "k", "v"].map { try load(p + "attn_\($0).bias") } : [],
                qkNorms: try load.qkNorms(block: b, present: variant.qkNorm)
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
        layout.tokens.withUnsafeBufferPointer { tokens in b.embed(tokens, table: ends.embedding, scale: 1, into: s.x) }
        for (index, layer) in layers.enumerated() {
            b.rmsNorm(s.x, rows: n, weight: layer.attnNorm, epsilon: eps, groupSize: nil, into: s.normed)
            b.matmul(s.normed, rows: n, weights: layer.projections.qkv, into: s.qkvOutputs)
            for (bias, output) in zip(layer.biases, s.qkvOutputs) { b.addBias(bias, rows: n, into: output) }
            s.attend(
                backend: b,
                layout: layout,
                cache: cache,
                layer: index,
                config: c,
                qkNorms: layer.qkNorms,
                rope: rope,
                style: variant.ropeStyle,
                window: c.window(ofLayer: index)
            )
            b.matmul(s.attended, rows: n, weights: layer.projections.wo, into: s.projectedOutputs)
            b.add(s.projected, rows: n, into: s.x)
            b.rmsNorm(s.x, rows: n, weight: layer.ffnNorm, epsilon: eps, groupSize: nil, into: s.normed)
            b.matmul(s.normed, rows: n, weights: layer.projections.gateUp, into: s.gateUpOutputs)
            b.gated(s.gate, s.up, rows: n, activation: .silu, into: s.gate)
            b.matmul(s.gate, rows: n, weights: layer.projections.down, into: s.projectedOutputs)
            b.add(s.projected, rows: n, into: s.x)
        }
        return s.finish(backend: b, layout: layout, ends: ends, epsilon: eps)
    }
}
