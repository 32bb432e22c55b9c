import GGUF
import SwerveCore

/// Llama-family decoder (SmolLM2, Llama 2/3, Mistral): RMSNorm, RoPE on q/k, grouped-query attention, SwiGLU.
public enum LlamaArchitecture: ModelArchitecture {
    public static let name = "llama"

    public static func config(from gguf: GGUFFile) throws(ModelError) -> ModelConfig {
        try llamaFamilyConfig(gguf, blockTensors: LlamaForward.blockTensors)
    }

    public static func makeForward(
        gguf: GGUFFile,
        config: ModelConfig,
        backend: any Backend,
        maxBatch: Int,
        maxSequences: Int
    ) throws -> any ForwardPass {
        try LlamaForward(gguf: gguf, config: config, backend: backend, maxBatch: maxBatch, maxSequences: maxSequences)
    }
}
