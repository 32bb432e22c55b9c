import GGUF

/// Phi-3 (mini, medium): the llama block with its q/k/v projections fused into one matrix (`attn_qkv`), gate
/// and up fused into `ffn_up` (gate rows first), and NeoX-style RoPE; its sliding window (Phi-3-mini-4k's
/// 2,047) applies to every layer, and the long-context variants' LongRoPE factors apply
/// (`WeightLoader.ropeFrequencies`).
public enum Phi3Architecture: LlamaFamilyArchitecture {
    public static let name = "phi3"
    static let variant = LlamaForward.Variant(ropeStyle: .neox)

    public static func config(from gguf: GGUFFile) throws(ModelError) -> ModelConfig {
        let config = try llamaFamilyConfig(
            gguf,
            blockTensors: [
                "attn_norm.weight", "attn_output.weight", "ffn_norm.weight", "ffn_up.weight", "ffn_down.weight",
            ]
        )
        for block in 0..<config.blockCount where gguf.info("blk.\(block).attn_qkv.weight") == nil {
            for part in ["q", "k", "v"] where gguf.info("blk.\(block).attn_\(part).weight") == nil {
                throw .missing("tensor 'blk.\(block).attn_qkv.weight' (or 'blk.\(block).attn_\(part).weight')")
            }
        }
        return config
    }
}
