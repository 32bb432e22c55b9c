import GGUF
import SwerveCore

/// Qwen3 (dense): the llama block with per-head RMSNorm of q and k before RoPE, NeoX-style RoPE, and a head
/// width of its own (`qwen3.attention.key_length`, 128 in Qwen3-0.6B whatever the model width).
public enum Qwen3Architecture: ModelArchitecture {
    public static let name = "qwen3"
    static let variant = LlamaForward.Variant(ropeStyle: .neox, qkNorm: true)

    public static func config(from gguf: GGUFFile) throws(ModelError) -> ModelConfig {
        try llamaFamilyConfig(gguf, blockTensors: LlamaForward.blockTensors + variant.blockTensors)
    }

    public static func makeForward(
        gguf: GGUFFile,
        config: ModelConfig,
        backend: any Backend,
        maxBatch: Int,
        maxSequences: Int
    ) throws -> any ForwardPass {
        try LlamaForward(
            gguf: gguf,
            config: config,
            backend: backend,
            maxBatch: maxBatch,
            maxSequences: maxSequences,
            variant: variant
        )
    }
}
