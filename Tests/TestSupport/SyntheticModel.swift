import GGUF
import SwerveCore

/// Tiny random models the tests build themselves (milliseconds, no download), in the real architectures'
/// tensor layout, with the weight types chosen to exercise every quantized kernel.
public enum SyntheticModel {
    /// A 2-layer llama: width 64, 4 query heads and 2 KV heads of 16, SwiGLU 128, vocabulary 96; weights
    /// Q4_1 and Q8_0 as SmolLM2's (the reference backend multiplies both in ggml's block arithmetic);
    /// separate output head.
    public static func llama(seed: UInt64 = 1) throws -> GGUFFile { try GGUFFile(bytes: llamaBytes(seed: seed)) }

    /// `llama`'s GGUF file bytes (to write to disk where a path is wanted).
    public static func llamaBytes(seed: UInt64 = 1) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        var w = GGUFWriter()
        let (width, ffn, vocab, heads, kvHeads, headDim) = (64, 128, 96, 4, 2, 16)
        w.set("general.architecture", .string("llama"))
        w.set("llama.block_count", .uint32(2))
        w.set("llama.embedding_length", .uint32(UInt32(width)))
        w.set("llama.feed_forward_length", .uint32(UInt32(ffn)))
        w.set("llama.attention.head_count", .uint32(UInt32(heads)))
        w.set("llama.attention.head_count_kv", .uint32(UInt32(kvHeads)))
        w.set("llama.context_length", .uint32(256))
        w.set("llama.vocab_size", .uint32(UInt32(vocab)))
        w.set("llama.rope.freq_base", .float32(10_000))
        w.set("llama.attention.layer_norm_rms_epsilon", .float32(1e-5))
        w.addTensor(
            "token_embd.weight",
            type: .q8_0,
            shape: [width, vocab],
            data: randomBlocks(.q8_0, width, vocab, &random)
        )
        w.addTensor("output_norm.weight", shape: [width], floats: norm(width, &random))
        w.addTensor(
            "output.weight",
            type: .q8_0,
            shape: [width, vocab],
            data: randomBlocks(.q8_0, width, vocab, &random)
        )
        for b in 0..<2 {
            let p = "blk.\(b)."
            w.addTensor(p + "attn_norm.weight", shape: [width], floats: norm(width, &random))
            w.addTensor(p + "ffn_norm.weight", shape: [width], floats: norm(width, &random))
            let matrices: [(String, GGMLType, Int, Int)] = [
                ("attn_q", .q4_1, width, heads * headDim), ("attn_k", .q8_0, width, kvHeads * headDim),
                ("attn_v", .q4_1, width, kvHeads * headDim), ("attn_output", .q4_1, heads * headDim, width),
                ("ffn_gate", .q8_0, width, ffn), ("ffn_up", .q4_1, width, ffn), ("ffn_down", .q8_0, ffn, width),
            ]
            addMatrices(matrices, prefix: p, to: &w, &random)
        }
        return w.bytes()
    }

    /// A 2-layer Gemma 3: width 256, 4 query heads and 1 KV head of 64, GeGLU 512, vocabulary 80, layer 0
    /// sliding (window 5), layer 1 global; weights Q4_K, Q6_K, Q5_0, Q8_0; output tied to the embedding.
    public static func gemma3(seed: UInt64 = 2) throws -> GGUFFile { try GGUFFile(bytes: gemma3Bytes(seed: seed)) }

    /// `gemma3`'s GGUF file bytes.
    public static func gemma3Bytes(seed: UInt64 = 2) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        var w = GGUFWriter()
        let (width, ffn, vocab, heads, kvHeads, headDim) = (256, 512, 80, 4, 1, 64)
        w.set("general.architecture", .string("gemma3"))
        w.set("gemma3.block_count", .uint32(2))
        w.set("gemma3.embedding_length", .uint32(UInt32(width)))
        w.set("gemma3.feed_forward_length", .uint32(UInt32(ffn)))
        w.set("gemma3.attention.head_count", .uint32(UInt32(heads)))
        w.set("gemma3.attention.head_count_kv", .uint32(UInt32(kvHeads)))
        w.set("gemma3.attention.key_length", .uint32(UInt32(headDim)))
        w.set("gemma3.attention.value_length", .uint32(UInt32(headDim)))
        w.set("gemma3.attention.sliding_window", .uint32(5))
        w.set("gemma3.attention.sliding_window_pattern", .uint32(2))
        w.set("gemma3.context_length", .uint32(256))
        w.set("gemma3.vocab_size", .uint32(UInt32(vocab)))
        w.set("gemma3.rope.freq_base", .float32(1_000_000))
        w.set("gemma3.attention.layer_norm_rms_epsilon", .float32(1e-6))
        w.addTensor(
            "token_embd.weight",
            type: .q8_0,
            shape: [width, vocab],
            data: randomBlocks(.q8_0, width, vocab, &random, scale: 0.002)
        )
        w.addTensor("output_norm.weight", shape: [width], floats: norm(width, &random))
        for b in 0..<2 {
            let p = "blk.\(b)."
            for name in ["attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"] {
                w.addTensor(p + name + ".weight", shape: [width], floats: norm(width, &random))
            }
            for name in ["attn_q_norm", "attn_k_norm"] {
                w.addTensor(p + name + ".weight", shape: [headDim], floats: norm(headDim, &random))
            }
            let matrices: [(String, GGMLType, Int, Int)] = [
                ("attn_q", .q4_K, width, heads * headDim), ("attn_k", .q6_K, width, kvHeads * headDim),
                ("attn_v", .q8_0, width, kvHeads * headDim), ("attn_output", .q4_K, heads * headDim, width),
                ("ffn_gate", .q5_0, width, ffn), ("ffn_up", .q4_K, width, ffn), ("ffn_down", .q6_K, ffn, width),
            ]
            addMatrices(matrices, prefix: p, to: &w, &random)
        }
        return w.bytes()
    }

    /// Random matrices (name, type, values per row, rows) named `prefix + name + ".weight"`.
    static func addMatrices(
        _ matrices: [(String, GGMLType, Int, Int)],
        prefix: String,
        to writer: inout GGUFWriter,
        _ random: inout SeededRandom
    ) {
        for (name, type, columns, rows) in matrices {
            writer.addTensor(
                prefix + name + ".weight",
                type: type,
                shape: [columns, rows],
                data: randomBlocks(type, columns, rows, &random)
            )
        }
    }

    /// Norm weights near 1.
    static func norm(_ count: Int, _ random: inout SeededRandom) -> [Float] {
        (0..<count).map { _ in Float.random(in: 0.8...1.2, using: &random) }
    }

    /// `rows` rows of `columns` values of `type`: random quants, block scales set to small f16 values
    /// (`scale` on average) so activations stay in a realistic range.
    public static func randomBlocks(
        _ type: GGMLType,
        _ columns: Int,
        _ rows: Int,
        _ random: inout SeededRandom,
        scale: Float = 0.01
    ) -> [UInt8] {
        // K-quant blocks multiply d by 6- or 8-bit sub-block scales as well.
        let scale = type == .q4_K ? scale / 20 : type == .q6_K ? scale / 50 : scale
        let blocks = columns / type.blockSize * rows
        var bytes = (0..<(blocks * type.typeSize)).map { _ in UInt8.random(in: 0...255, using: &random) }
        // Offsets of the f16 scale fields in each block.
        let scaleOffsets: [Int] =
            switch type {
            case .q4_0, .q5_0, .q8_0: [0]
            case .q4_1, .q4_K: [0, 2]
            case .q6_K: [208]
            default: []
            }
        for b in 0..<blocks {
            for offset in scaleOffsets {
                let value = Float16(Float.random(in: (scale * 0.5)...(scale * 1.5), using: &random))
                let bits = value.bitPattern
                bytes[b * type.typeSize + offset] = UInt8(bits & 0xFF)
                bytes[b * type.typeSize + offset + 1] = UInt8(bits >> 8)
            }
        }
        return bytes
    }
}
