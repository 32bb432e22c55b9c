import Foundation
import GGUF
import SwerveCore

/// YaRN RoPE scaling (`rope.scaling.type` yarn: Qwen2.5's and others' long-context setting), as llama.cpp and
/// transformers compute it: pair i of a head turns at a blend of its interpolated frequency (divided by
/// `factor`) and its own, the blend ramping from extrapolation for the fast pairs to interpolation for the
/// slow ones between the correction dimensions of `betaFast` and `betaSlow` rotations over the original
/// context; cos and sin are scaled by `attentionFactor` · (1 + 0.1 ln factor).
public struct YaRNScaling: Sendable, Equatable {
    public var factor: Double
    public var originalContext: Int
    public var betaFast: Double
    public var betaSlow: Double
    /// `rope.scaling.attn_factor`: a multiplier on top of YaRN's own mscale (1 unless the file says).
    public var attentionFactor: Double

    /// The file's YaRN parameters, or nil when its scaling is not YaRN.
    init?(gguf: GGUFFile, architecture arch: String, contextLength: Int) {
        guard gguf["\(arch).rope.scaling.type"]?.string == "yarn" else { return nil }
        let key = "\(arch).rope.scaling."
        factor = gguf[key + "factor"]?.double ?? 1
        originalContext = gguf[key + "original_context_length"]?.int ?? contextLength
        betaFast = gguf[key + "yarn_beta_fast"]?.double ?? 32
        betaSlow = gguf[key + "yarn_beta_slow"]?.double ?? 1
        attentionFactor = gguf[key + "attn_factor"]?.double ?? 1
    }

    /// The frequencies of a head of `headDimension` values at `base`.
    func frequencies(base: Double, headDimension d: Int) -> RoPEFrequencies {
        func correctionDimension(_ rotations: Double) -> Double {
            Double(d) * log(Double(originalContext) / (rotations * 2 * Double.pi)) / (2 * log(base))
        }
        let low = max(0, floor(correctionDimension(betaFast)))
        let high = min(Double(d - 1), ceil(correctionDimension(betaSlow)))
        let factors = (0..<(d / 2)).map { i -> Float in
            let ramp = 1 - min(1, max(0, (Double(i) - low) / max(0.001, high - low)))  // 1: extrapolate
            return Float(1 / ((1 - ramp) / factor + ramp))
        }
        let mscale = factor <= 1 ? 1 : 1 + 0.1 * log(factor)
        return RoPEFrequencies(
            base: Float(base),
            factors: factors,
            attentionFactor: Float(attentionFactor * mscale)
        )
    }
}
