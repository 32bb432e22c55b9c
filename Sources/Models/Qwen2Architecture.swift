import GGUF
import SwerveCore

/// Qwen2 and Qwen2.5: the llama block with biases on the q, k and v projections and NeoX-style RoPE.
public enum Qwen2Architecture: ModelArchitecture {
    public static let name = "qwen2"
    static let variant = LlamaForward.Variant(ropeStyle: .neox, qkvBias: true)

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
