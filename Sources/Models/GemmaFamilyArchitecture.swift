import GGUF
import SwerveCore

/// An architecture that is the Gemma block plus a `GemmaForward.Variant` (q/k norms, soft caps, query
/// scale): its forward pass is `GemmaForward` with the variant its file describes. Each conforming file
/// names the architecture, checks its configuration and derives its variant.
protocol GemmaFamilyArchitecture: ModelArchitecture {
    static func variant(_ gguf: GGUFFile, _ config: ModelConfig) throws(ModelError) -> GemmaForward.Variant
}

extension GemmaFamilyArchitecture {
    public static func makeForward(
        gguf: GGUFFile,
        config: ModelConfig,
        backend: any Backend,
        maxBatch: Int,
        maxSequences: Int
    ) throws -> any ForwardPass {
        try GemmaForward(
            gguf: gguf,
            config: config,
            backend: backend,
            maxBatch: maxBatch,
            maxSequences: maxSequences,
            variant: try variant(gguf, config)
        )
    }
}
