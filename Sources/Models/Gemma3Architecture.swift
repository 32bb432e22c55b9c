import GGUF

/// Gemma 3 decoder: q/k norms, sandwich norms around attention and FFN, GELU-gated FFN, interleaved
/// sliding-window and global attention layers.
public enum Gemma3Architecture: ModelArchitecture {
    public static let name = "gemma3"

    public static func config(from gguf: GGUFFile) throws(ModelError) -> ModelConfig {
        try standardConfig(
            gguf,
            blockTensors: [
                "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                "attn_q_norm.weight", "attn_k_norm.weight", "post_attention_norm.weight", "ffn_norm.weight",
                "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "post_ffw_norm.weight",
            ]
        )
    }
}
