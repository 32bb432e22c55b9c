/// Llama-family decoder (SmolLM2, Llama 2/3, Mistral): RMSNorm, RoPE on q/k, grouped-query attention, SwiGLU.
public enum LlamaArchitecture: LlamaFamilyArchitecture {
    public static let name = "llama"
    static let variant = LlamaForward.Variant()
}
