import GGUF
import SwerveCore

/// Gemma 2 (2B, 9B, 27B): the Gemma block without q/k norms, sliding-window attention on every other layer
/// (4,096 positions unless the file says otherwise), attention scores soft-capped at
/// `gemma2.attn_logit_softcapping` (50) and the final logits at `gemma2.final_logit_softcapping` (30), and
/// queries scaled by 1/√head width, or 1/√(width / heads) for the 27B model, as llama.cpp derives
/// `query_pre_attn_scalar`.
public enum Gemma2Architecture: GemmaFamilyArchitecture {
    public static let name = "gemma2"

    public static func config(from gguf: GGUFFile) throws(ModelError) -> ModelConfig {
        var config = try standardConfig(
            gguf,
            blockTensors: [
                "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                "post_attention_norm.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight",
                "ffn_down.weight", "post_ffw_norm.weight",
            ]
        )
        config.slidingWindow = config.slidingWindow ?? 4096
        config.slidingWindowPattern = 2
        return config
    }

    /// The variant this file's keys describe.
    static func variant(_ gguf: GGUFFile, _ config: ModelConfig) throws(ModelError) -> GemmaForward.Variant {
        func cap(_ key: String, _ fallback: Float) throws(ModelError) -> Float {
            let value = gguf["gemma2.\(key)"]?.double.map(Float.init) ?? fallback
            guard value > 0, value.isFinite else { throw .invalid("'gemma2.\(key)' is \(value), not a positive cap") }
            return value
        }
        let width = config.blockCount == 46 ? config.embeddingLength / config.headCount : config.headDimension
        return GemmaForward.Variant(
            qkNorm: false,
            attentionScale: 1 / Float(width).squareRoot(),
            attentionSoftcap: try cap("attn_logit_softcapping", 50),
            finalSoftcap: try cap("final_logit_softcapping", 30),
            scalesLocalRoPE: true
        )
    }

}
