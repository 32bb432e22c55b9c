/// Qwen3 (dense): the llama block with per-head RMSNorm of q and k before RoPE, NeoX-style RoPE, and a head
/// width of its own (`qwen3.attention.key_length`, 128 in Qwen3-0.6B whatever the model width).
public enum Qwen3Architecture: LlamaFamilyArchitecture {
    public static let name = "qwen3"
    static let variant = LlamaForward.Variant(ropeStyle: .neox, qkNorm: true)
}
