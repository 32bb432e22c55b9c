import GGUF
import SwerveCore

/// Gemma 3 decoder: q/k norms, sandwich norms around attention and FFN, GELU-gated FFN, interleaved
/// sliding-window and global attention layers.
public enum Gemma3Architecture: GemmaFamilyArchitecture {
    public static let name = "gemma3"

    public static func config(from gguf: GGUFFile) throws(ModelError) -> ModelConfig {
        var config = try standardConfig(
            gguf,
            blockTensors: [
                "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                "attn_q_norm.weight", "attn_k_norm.weight", "post_attention_norm.weight", "ffn_norm.weight",
                "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "post_ffw_norm.weight",
            ]
        )
        // llama.cpp's defaults for Gemma 3: five local layers then one global, local RoPE base 10,000.
        if config.slidingWindow != nil {
            config.slidingWindowPattern = gguf["gemma3.attention.sliding_window_pattern"]?.int ?? 6
            config.ropeFrequencyBaseSliding = gguf["gemma3.rope.freq_base_swa"]?.double ?? 10_000
        }
        return config
    }

    static func variant(_ gguf: GGUFFile, _ config: ModelConfig) throws(ModelError) -> GemmaForward.Variant {
        GemmaForward.Variant(qkNorm: true)
    }
}
