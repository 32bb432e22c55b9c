import GGUF
import SwerveCore

/// The llama decoder (SmolLM2, Llama 2/3, Mistral): RMSNorm, q/k/v projections, RoPE on adjacent pairs
/// (GGUF's llama layout), causal grouped-query attention, output projection, SwiGLU, residuals, final
/// norm and the (possibly tied) output head.
public final class LlamaForward: ForwardPass, @unchecked Sendable {
    public let config: ModelConfig
    public let backend: any Backend
    public let maxBatch: Int
    let scratch: DecoderScratch
    let layers: [Layer]
    let outputNorm, embedding: BackendTensor
    /// The output head, as the one-element list `Backend.matmul` takes.
    let output: [BackendTensor]

    struct Layer {
        var attnNorm, ffnNorm: BackendTensor
        var qkv, wo, gateUp, down: [BackendTensor]
    }

    public init(gguf: GGUFFile, config: ModelConfig, backend: any Backend, maxBatch: Int) throws {
        self.config = config
        self.backend = backend
        self.maxBatch = maxBatch
        let load = WeightLoader(gguf: gguf, backend: backend)
        embedding = try load("token_embd.weight")
        outputNorm = try load("output_norm.weight")
        output = [try load.output()]
        layers = try (0..<config.blockCount).map { b in
            let p = "blk.\(b)."
            return Layer(
                attnNorm: try load(p + "attn_norm.weight"),
                ffnNorm: try load(p + "ffn_norm.weight"),
                qkv: [try load(p + "attn_q.weight"), try load(p + "attn_k.weight"), try load(p + "attn_v.weight")],
                wo: [try load(p + "attn_output.weight")],
                gateUp: [try load(p + "ffn_gate.weight"), try load(p + "ffn_up.weight")],
                down: [try load(p + "ffn_down.weight")]
            )
        }
        scratch = DecoderScratch(config: config, backend: backend, maxBatch: maxBatch)
    }

    public func forwardBatch(
        _ tokens: UnsafeBufferPointer<Int32>,
        firstPosition: Int,
        cache: BackendTensor,
        logits: UnsafeMutableBufferPointer<Float>
    ) {
        let c = config
        let s = scratch
        let n = tokens.count
        let eps = Float(c.rmsNormEpsilon)
        let base = Float(c.ropeFrequencyBase)
        let b = backend
        b.embed(tokens, table: embedding, scale: 1, into: s.x)
        for (index, layer) in layers.enumerated() {
            b.rmsNorm(s.x, rows: n, weight: layer.attnNorm, epsilon: eps, groupSize: nil, into: s.normed)
            b.matmul(s.normed, rows: n, weights: layer.qkv, into: s.qkvOutputs)
            b.rope(
                s.q,
                rows: n,
                heads: c.headCount,
                headDimension: c.headDimension,
                firstPosition: firstPosition,
                base: base,
                style: .adjacentPairs
            )
            b.rope(
                s.k,
                rows: n,
                heads: c.headCountKV,
                headDimension: c.headDimension,
                firstPosition: firstPosition,
                base: base,
                style: .adjacentPairs
            )
            b.attention(
                q: s.q,
                k: s.k,
                v: s.v,
                rows: n,
                cache: cache,
                layer: index,
                firstPosition: firstPosition,
                heads: c.headCount,
                kvHeads: c.headCountKV,
                headDimension: c.headDimension,
                window: nil,
                scale: 1 / Float(c.headDimension).squareRoot(),
                into: s.attended
            )
            b.matmul(s.attended, rows: n, weights: layer.wo, into: s.projectedOutputs)
            b.add(s.projected, rows: n, into: s.x)
            b.rmsNorm(s.x, rows: n, weight: layer.ffnNorm, epsilon: eps, groupSize: nil, into: s.normed)
            b.matmul(s.normed, rows: n, weights: layer.gateUp, into: s.gateUpOutputs)
            b.gated(s.gate, s.up, rows: n, activation: .silu, into: s.gate)
            b.matmul(s.gate, rows: n, weights: layer.down, into: s.projectedOutputs)
            b.add(s.projected, rows: n, into: s.x)
        }
        s.finish(backend: b, rows: n, outputNorm: outputNorm, output: output, epsilon: eps, logits: logits)
    }
}

extension DecoderScratch {
    /// Final norm and output head of the last row only; logits copied to `logits`.
    func finish(
        backend b: any Backend,
        rows n: Int,
        outputNorm: BackendTensor,
        output: [BackendTensor],
        epsilon: Float,
        logits destination: UnsafeMutableBufferPointer<Float>
    ) {
        b.copyRow(x, row: n - 1, into: last)
        b.rmsNorm(last, rows: 1, weight: outputNorm, epsilon: epsilon, groupSize: nil, into: lastNormed)
        b.matmul(lastNormed, rows: 1, weights: output, into: logitsOutputs)
        b.read(logits, row: 0, into: destination)
    }
}
