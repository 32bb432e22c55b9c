import GGUF
import SwerveCore

/// An architecture that is the llama block plus a `LlamaForward.Variant` (NeoX RoPE, q/k/v biases, q/k
/// norms): its configuration checks the block's tensors and the variant's, and its forward pass is
/// `LlamaForward` with the variant. Each conforming file names the architecture and its variant.
protocol LlamaFamilyArchitecture: ModelArchitecture {
    static var variant: LlamaForward.Variant { get }
}

extension LlamaFamilyArchitecture {
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
