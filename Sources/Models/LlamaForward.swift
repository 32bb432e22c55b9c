import GGUF
import SwerveCore

/// The llama decoder (SmolLM2, Llama 2/3, Mistral): RMSNorm, q/k/v projections, RoPE on adjacent pairs
/// (GGUF's llama layout), causal grouped-query attention, output projection, SwiGLU, residuals, final
/// norm and the (possibly tied) output head.
public final class LlamaForward: ForwardPass, @unchecked Sendable {
    public let config: ModelConfig
    public let backend: any Backend
    public let maxBatch: Int
    public let maxSequences: Int
    let scratch: DecoderScratch
    let layers: [Layer]
    let ends: Ends

    struct Layer {
        var attnNorm, ffnNorm: BackendTensor
        var projections: Projections
    }

    public init(gguf: GGUFFile, config: ModelConfig, backend: any Backend, maxBatch: Int, maxSequences: Int) throws {
        self.config = config
        self.backend = backend
        self.maxBatch = maxBatch
        self.maxSequences = maxSequences
        let load = WeightLoader(gguf: gguf, backend: backend)
        ends = try load.ends()
        layers = try (0..<config.blockCount).map { b in
            let p = "blk.\(b)."
            return Layer(
                attnNorm: try load(p + "attn_norm.weight"),
                ffnNorm: try load(p + "ffn_norm.weight"),
                projections: try load.projections(block: b)
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
        let base = Float(c.ropeFrequencyBase)
        let b = backend
        layout.tokens.withUnsafeBufferPointer { tokens in b.embed(tokens, table: ends.embedding, scale: 1, into: s.x) }
        for (index, layer) in layers.enumerated() {
            b.rmsNorm(s.x, rows: n, weight: layer.attnNorm, epsilon: eps, groupSize: nil, into: s.normed)
            b.matmul(s.normed, rows: n, weights: layer.projections.qkv, into: s.qkvOutputs)
            s.attend(
                backend: b,
                layout: layout,
                cache: cache,
                layer: index,
                config: c,
                ropeBase: base,
                style: .adjacentPairs,
                window: nil
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
