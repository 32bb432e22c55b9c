import GGUF
import SwerveCore

/// One model's forward pass written as `Backend` operations, with the scratch buffers a batch needs.
///
/// One step runs a whole `BatchLayout`: any mix of prefill chunks and decode tokens from different
/// sequences, over one paged KV cache (`makeKVCache`), and returns the logits of the rows the layout asks
/// for. One caller at a time (the engine's loop): conforming classes are `@unchecked Sendable` so the owner
/// can hand the pass between tasks, not so two can run it at once.
public protocol ForwardPass: AnyObject, Sendable {
    var config: ModelConfig { get }
    var backend: any Backend { get }
    /// Most tokens one step takes.
    var maxBatch: Int { get }
    /// Most rows whose logits one step returns (sequences that sample in one step).
    var maxSequences: Int { get }
    /// Runs the layout's tokens and leaves the logits of `layout.logitRows` on the backend, one row after
    /// another (`config.vocabularySize` values each) in the tensor returned: the caller reads the rows it
    /// needs (`Backend.read`) or has the backend choose tokens from them (`Backend.sample`).
    func forward(_ layout: BatchLayout, cache: BackendTensor) -> BackendTensor
}

extension ForwardPass {
    /// Runs the layout's tokens and copies the logits of `layout.logitRows` into `logits`.
    public func forward(_ layout: BatchLayout, cache: BackendTensor, logits: UnsafeMutableBufferPointer<Float>) {
        let rows = forward(layout, cache: cache)
        backend.read(rows, rows: layout.logitRows.count, into: logits)
    }

    /// A paged KV cache of `blocks` blocks of `blockSize` positions, for every layer.
    public func makeKVCache(blocks: Int, blockSize: Int, type: KVCacheType = .f16) -> BackendTensor {
        backend.makeKVCache(
            layers: config.blockCount,
            blocks: blocks,
            blockSize: blockSize,
            width: config.headCountKV * config.headDimension,
            type: type
        )
    }

    /// Bytes of KV cache one token takes.
    public func kvBytesPerToken(_ type: KVCacheType) -> Int {
        type.bytesPerToken(layers: config.blockCount, width: config.headCountKV * config.headDimension)
    }

    /// A KV cache for one sequence of up to `capacity` positions (its blocks in order).
    public func makeCache(capacity: Int, type: KVCacheType = .f16, blockSize: Int = 16) -> SequenceCache {
        let blocks = (capacity + blockSize - 1) / blockSize
        return SequenceCache(
            kv: makeKVCache(blocks: blocks, blockSize: blockSize, type: type),
            capacity: capacity,
            blockSize: blockSize,
            maxBatch: maxBatch
        )
    }

    /// Runs any number of tokens of one sequence (in chunks of `maxBatch`) at positions `firstPosition...`
    /// and writes the last one's logits.
    public func forward(
        _ tokens: UnsafeBufferPointer<Int32>,
        firstPosition: Int,
        cache: SequenceCache,
        logits: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(firstPosition + tokens.count <= cache.capacity, "KV cache full")
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + maxBatch)
            let layout = cache.layout
            layout.reset()
            let blocks = (firstPosition + end + cache.layout.blockSize - 1) / cache.layout.blockSize
            layout.append(
                UnsafeBufferPointer(rebasing: tokens[start..<end]),
                firstPosition: firstPosition + start,
                blockTable: cache.blockTable[0..<blocks],
                logits: end == tokens.count
            )
            forward(layout, cache: cache.kv, logits: logits)
            start = end
        }
    }
}

/// One sequence's own KV cache, its blocks in order: the single-sequence path (`swerve generate`, tests)
/// over the same paged forward pass the engine uses. Reuses one layout, so decoding allocates nothing.
public final class SequenceCache: @unchecked Sendable {
    public let kv: BackendTensor
    public let capacity: Int
    let layout: BatchLayout
    let blockTable: [Int]

    init(kv: BackendTensor, capacity: Int, blockSize: Int, maxBatch: Int) {
        self.kv = kv
        self.capacity = capacity
        layout = BatchLayout(blockSize: blockSize)
        blockTable = Array(0..<((capacity + blockSize - 1) / blockSize))
        layout.reserve(rows: maxBatch, sequences: 1, blocks: blockTable.count)
    }
}

/// The activation buffers every decoder layer reuses, sized for `maxBatch` tokens.
struct DecoderScratch {
    let x, normed, q, k, v, attended, projected, gate, up: BackendTensor
    let last, lastNormed, logits: BackendTensor
    /// Output lists for `Backend.matmul`, built once so the decode loop allocates nothing.
    let qkvOutputs, gateUpOutputs, projectedOutputs, logitsOutputs: [BackendTensor]

    init(config c: ModelConfig, backend: any Backend, maxBatch: Int, maxSequences: Int) {
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
        last = backend.makeActivations(rows: maxSequences, columns: c.embeddingLength)
        lastNormed = backend.makeActivations(rows: maxSequences, columns: c.embeddingLength)
        logits = backend.makeActivations(rows: maxSequences, columns: c.vocabularySize)
        qkvOutputs = [q, k, v]
        gateUpOutputs = [gate, up]
        projectedOutputs = [projected]
        logitsOutputs = [logits]
    }
}

extension DecoderScratch {
    /// Any per-head RMSNorm of q and k (`qkNorms`: the q and the k weight, or none), RoPE on q and k at each
    /// row's position, then attention over the paged cache into `attended`: the self-attention core every
    /// decoder runs after its q/k/v projections.
    func attend(
        backend b: any Backend,
        layout: BatchLayout,
        cache: BackendTensor,
        layer: Int,
        config c: ModelConfig,
        qkNorms: [BackendTensor] = [],
        rope: RoPEFrequencies,
        style: RoPEStyle,
        window: Int?,
        scale: Float? = nil,
        softcap: Float = 0
    ) {
        let d = c.headDimension
        if qkNorms.count == 2 {
            let (n, eps) = (layout.rowCount, Float(c.rmsNormEpsilon))
            b.rmsNorm(q, rows: n, weight: qkNorms[0], epsilon: eps, groupSize: d, into: q)
            b.rmsNorm(k, rows: n, weight: qkNorms[1], epsilon: eps, groupSize: d, into: k)
        }
        b.rope(q, layout: layout, heads: c.headCount, headDimension: d, frequencies: rope, style: style)
        b.rope(k, layout: layout, heads: c.headCountKV, headDimension: d, frequencies: rope, style: style)
        b.attention(
            q: q,
            k: k,
            v: v,
            layout: layout,
            cache: cache,
            layer: layer,
            heads: c.headCount,
            kvHeads: c.headCountKV,
            headDimension: d,
            window: window,
            scale: scale ?? 1 / Float(d).squareRoot(),
            softcap: softcap,
            into: attended
        )
    }

    /// Final norm and output head of the layout's logit rows only, into `logits` (returned).
    func finish(backend b: any Backend, layout: BatchLayout, ends: Ends, epsilon: Float) -> BackendTensor {
        let n = layout.logitRows.count
        guard n > 0 else { return logits }
        b.gather(x, rows: layout.logitRows, into: last)
        b.rmsNorm(last, rows: n, weight: ends.outputNorm, epsilon: epsilon, groupSize: nil, into: lastNormed)
        if layout.headColumns.isEmpty {
            b.matmul(lastNormed, rows: n, weights: ends.output, into: logitsOutputs)
        } else {
            b.matmul(lastNormed, rows: n, weight: ends.output[0], columns: layout.headColumns, into: logits)
        }
        return logits
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

/// Loads named tensors into a backend with errors that name what is missing or misshapen: every tensor the
/// forward pass reads is checked against the shape the configuration gives it before any kernel sees it
/// (a file whose metadata and tensors disagree would otherwise be read past its ends).
struct WeightLoader {
    let gguf: GGUFFile
    let backend: any Backend
    let config: ModelConfig

    func callAsFunction(_ name: String) throws -> BackendTensor {
        let tensor = try gguf.tensor(name)
        try check(tensor, name: name)
        return try backend.load(tensor)
    }

    /// The shape (GGUF order: values per row first) the configuration gives tensor `name`; nil for a name
    /// it does not describe.
    func expectedShape(_ name: String) -> [Int]? {
        let c = config
        let (width, q, kv) = (c.embeddingLength, c.headCount * c.headDimension, c.headCountKV * c.headDimension)
        let suffix = name.hasPrefix("blk.") ? String(name.split(separator: ".", maxSplits: 2).last ?? "") : name
        switch suffix {
        case "token_embd.weight", "output.weight": return [width, c.vocabularySize]
        case "output_norm.weight", "attn_norm.weight", "ffn_norm.weight", "post_attention_norm.weight",
            "post_ffw_norm.weight":
            return [width]
        case "attn_q.weight": return [width, q]
        case "attn_k.weight", "attn_v.weight": return [width, kv]
        case "attn_output.weight": return [q, width]
        case "attn_q.bias": return [q]
        case "attn_k.bias", "attn_v.bias": return [kv]
        case "attn_q_norm.weight", "attn_k_norm.weight": return [c.headDimension]
        case "ffn_gate.weight", "ffn_up.weight": return [width, c.feedForwardLength]
        case "ffn_down.weight": return [c.feedForwardLength, width]
        default: return nil
        }
    }

    /// Throws when `tensor` is not `expected` (by default the shape `expectedShape` gives `name`; a trailing
    /// dimension of 1 is the same shape).
    func check(_ tensor: TensorView, name: String, expected: [Int]? = nil) throws {
        guard let expected = expected ?? expectedShape(name) else { return }
        var shape = tensor.shape
        while shape.count > expected.count && shape.last == 1 { shape.removeLast() }
        guard shape == expected else {
            throw ModelError.invalid(
                "'\(name)' has shape \(tensor.shape), but the metadata (embedding_length \(config.embeddingLength), "
                    + "\(config.headCount) heads and \(config.headCountKV) KV heads of \(config.headDimension), "
                    + "feed_forward_length \(config.feedForwardLength), \(config.vocabularySize) tokens) makes it \(expected)"
            )
        }
    }

    /// The rotation frequencies of the model's global layers: YaRN's when the file scales by YaRN, LongRoPE's
    /// (`rope_factors_short`/`long`, `rope.scaling.attn_factor`, `original_context_length`) when it has them,
    /// else the base, linear scale, and the per-pair factors of a `rope_freqs` tensor (Llama 3's scaling)
    /// when the file has one (`checkRoPE` checked the shapes).
    func ropeFrequencies(_ config: ModelConfig) throws -> RoPEFrequencies {
        if let yarn = config.yarn {
            return yarn.frequencies(base: config.ropeFrequencyBase, headDimension: config.headDimension)
        }
        let factors = try gguf.info("rope_freqs.weight").map { try gguf.tensor($0.name).dequantized() }
        let arch = config.architecture
        if gguf.info("rope_factors_short.weight") != nil {
            // LongRoPE: short factors within the original context, long ones past it, cos/sin scaled.
            return RoPEFrequencies(
                base: Float(config.ropeFrequencyBase),
                scale: Float(config.ropeFrequencyScale),
                factors: try gguf.tensor("rope_factors_short.weight").dequantized(),
                attentionFactor: Float(gguf["\(arch).rope.scaling.attn_factor"]?.double ?? 1),
                longFactors: try gguf.tensor("rope_factors_long.weight").dequantized(),
                longFrom: gguf["\(arch).rope.scaling.original_context_length"]?.int ?? config.contextLength
            )
        }
        return RoPEFrequencies(
            base: Float(config.ropeFrequencyBase),
            scale: Float(config.ropeFrequencyScale),
            factors: factors
        )
    }

    /// Block `block`'s q and k norm weights (`attn_q_norm`, `attn_k_norm`) when `present`, else none.
    func qkNorms(block: Int, present: Bool) throws -> [BackendTensor] {
        present ? try ["q", "k"].map { try self("blk.\(block).attn_\($0)_norm.weight") } : []
    }

    func ends() throws -> Ends {
        Ends(
            embedding: try self("token_embd.weight"),
            outputNorm: try self("output_norm.weight"),
            output: [try self(gguf.info("output.weight") == nil ? "token_embd.weight" : "output.weight")]
        )
    }

    /// A block's projections; a fused q/k/v matrix (`attn_qkv`) and a fused gate/up matrix (`ffn_up` with
    /// no `ffn_gate`: gate rows first, as Phi-3) are loaded as their parts, no copy.
    func projections(block: Int, config: ModelConfig) throws -> Projections {
        let p = "blk.\(block)."
        let qkv: [BackendTensor]
        if gguf.info(p + "attn_qkv.weight") != nil {
            let fused = try gguf.tensor(p + "attn_qkv.weight")
            let (q, kv) = (config.headCount * config.headDimension, config.headCountKV * config.headDimension)
            try check(fused, name: p + "attn_qkv.weight", expected: [config.embeddingLength, q + 2 * kv])
            qkv = try [("q", 0..<q), ("k", q..<(q + kv)), ("v", (q + kv)..<(q + 2 * kv))].map { part, rows in
                try backend.load(fused.rows(rows, name: p + "attn_qkv.weight[\(part)]"))
            }
        } else {
            qkv = [try self(p + "attn_q.weight"), try self(p + "attn_k.weight"), try self(p + "attn_v.weight")]
        }
        let gateUp: [BackendTensor]
        if gguf.info(p + "ffn_gate.weight") == nil {
            let fused = try gguf.tensor(p + "ffn_up.weight")
            let ff = config.feedForwardLength
            try check(fused, name: p + "ffn_up.weight", expected: [config.embeddingLength, 2 * ff])
            gateUp = try [("gate", 0..<ff), ("up", ff..<(2 * ff))].map { part, rows in
                try backend.load(fused.rows(rows, name: p + "ffn_up.weight[\(part)]"))
            }
        } else {
            gateUp = [try self(p + "ffn_gate.weight"), try self(p + "ffn_up.weight")]
        }
        return Projections(
            qkv: qkv,
            wo: [try self(p + "attn_output.weight")],
            gateUp: gateUp,
            down: [try self(p + "ffn_down.weight")]
        )
    }
}
