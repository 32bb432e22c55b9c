/// Qwen2 and Qwen2.5: the llama block with biases on the q, k and v projections and NeoX-style RoPE.
public enum Qwen2Architecture: LlamaFamilyArchitecture {
    public static let name = "qwen2"
    static let variant = LlamaForward.Variant(ropeStyle: .neox, qkvBias: true)
}
