import Foundation
import GGUF

extension Checkpoint {
    /// config.json's RoPE scaling and sliding window as llama.cpp's converter writes them: linear scaling as
    /// `rope.scaling.type`/`factor`, Llama 3's smoothed scaling as the `rope_freqs` tensor (one divisor per
    /// rotated pair), YaRN as `rope.scaling.*` (factor, original context, betas), LongRoPE as the
    /// `rope_factors_long`/`short` tensors with `rope.scaling.original_context_length` and `attn_factor`, and
    /// Mistral's and Phi-3's window on every layer as `attention.sliding_window`. Other scaling types (dynamic
    /// NTK) are refused naming the key.
    static func addScalingAndWindow(
        _ config: [String: Any],
        architecture arch: String,
        headDim: Int,
        base: Double,
        into writer: inout GGUFWriter
    ) throws {
        for key in ["rope_scaling", "rope_parameters"] {
            guard let scaling = config[key] as? [String: Any] else { continue }
            let type = scaling["rope_type"] as? String ?? scaling["type"] as? String ?? "default"
            func number(_ name: String, or fallback: Double? = nil) throws -> Double {
                guard let value = (scaling[name] as? NSNumber)?.doubleValue ?? fallback, value > 0, value.isFinite
                else {
                    throw CheckpointError("config.json", "'\(key)' has no positive '\(name)' for '\(type)' scaling")
                }
                return value
            }
            switch type {
            case "default": continue
            case "linear":
                writer.set("\(arch).rope.scaling.type", .string("linear"))
                writer.set("\(arch).rope.scaling.factor", .float32(Float(try number("factor"))))
            case "llama3":
                let (low, high) = (try number("low_freq_factor"), try number("high_freq_factor"))
                guard high > low else {
                    throw CheckpointError(
                        "config.json",
                        "'\(key)' has high_freq_factor \(high) not above low_freq_factor \(low)"
                    )
                }
                let factors = llama3Factors(
                    headDim: headDim,
                    base: base,
                    factor: try number("factor"),
                    low: low,
                    high: high,
                    original: try number(
                        "original_max_position_embeddings",
                        or: (config["max_position_embeddings"] as? NSNumber)?.doubleValue
                    )
                )
                writer.addTensor("rope_freqs.weight", shape: [factors.count], floats: factors)
            case "yarn":
                for unsupported in ["mscale", "mscale_all_dim"] where scaling[unsupported] != nil {
                    throw CheckpointError(
                        "config.json",
                        "'\(key)' sets '\(unsupported)', which Swerve's YaRN does not implement"
                    )
                }
                if scaling["truncate"] as? Bool == false {
                    throw CheckpointError(
                        "config.json",
                        "'\(key)' sets 'truncate' false, which Swerve's YaRN does not implement"
                    )
                }
                let original = try number(
                    "original_max_position_embeddings",
                    or: (config["max_position_embeddings"] as? NSNumber)?.doubleValue
                )
                let longest = (config["max_position_embeddings"] as? NSNumber)?.doubleValue
                let factor = try number("factor", or: longest.map { $0 / original })
                let mscale = factor <= 1 ? 1 : 1 + 0.1 * log(factor)
                writer.set("\(arch).rope.scaling.type", .string("yarn"))
                writer.set("\(arch).rope.scaling.factor", .float32(Float(factor)))
                writer.set("\(arch).rope.scaling.original_context_length", .uint32(UInt32(original)))
                writer.set("\(arch).rope.scaling.yarn_beta_fast", .float32(Float(try number("beta_fast", or: 32))))
                writer.set("\(arch).rope.scaling.yarn_beta_slow", .float32(Float(try number("beta_slow", or: 1))))
                if let attention = (scaling["attention_factor"] as? NSNumber)?.doubleValue {
                    // transformers uses it instead of YaRN's mscale; llama.cpp multiplies the two.
                    writer.set("\(arch).rope.scaling.attn_factor", .float32(Float(attention / mscale)))
                }
            case "longrope", "su":
                let original = try number(
                    "original_max_position_embeddings",
                    or: (config["original_max_position_embeddings"] as? NSNumber)?.doubleValue
                )
                let longest = (config["max_position_embeddings"] as? NSNumber)?.doubleValue ?? original
                let factor = try number("factor", or: longest / original)
                let attention =
                    (scaling["attention_factor"] as? NSNumber)?.doubleValue
                    ?? (factor <= 1 ? 1 : (1 + log(factor) / log(original)).squareRoot())
                for (name, tensor) in [
                    ("long_factor", "rope_factors_long.weight"), ("short_factor", "rope_factors_short.weight"),
                ] {
                    guard let factors = (scaling[name] as? [NSNumber])?.map({ $0.floatValue }),
                        factors.count == headDim / 2,
                        factors.allSatisfy({ $0 > 0 && $0.isFinite })
                    else {
                        throw CheckpointError(
                            "config.json",
                            "'\(key)' needs '\(name)': \(headDim / 2) positive factors"
                        )
                    }
                    writer.addTensor(tensor, shape: [factors.count], floats: factors)
                }
                writer.set("\(arch).rope.scaling.original_context_length", .uint32(UInt32(original)))
                writer.set("\(arch).rope.scaling.attn_factor", .float32(Float(attention)))
            default:
                throw CheckpointError(
                    "config.json",
                    "'\(key)' asks for '\(type)' RoPE scaling, which Swerve does not implement (linear, llama3, yarn and longrope do)"
                )
            }
        }
        if arch == "gemma2" { try addGemma2(config, headDim: headDim, into: &writer) }
        let appliesWindow = (config["architectures"] as? [String])?.first.map {
            ["MistralForCausalLM", "Phi3ForCausalLM"].contains($0)
        }
        if appliesWindow == true, let window = config["sliding_window"] as? Int,
            window < (config["max_position_embeddings"] as? Int ?? Int.max)
        {
            guard window >= 1 else { throw CheckpointError("config.json", "'sliding_window' is \(window)") }
            writer.set("\(arch).attention.sliding_window", .uint32(UInt32(window)))
        }
    }

    /// Gemma 2's window (every other layer, the first sliding) and soft caps as llama.cpp's keys; a query
    /// scale other than the one llama.cpp derives, another layer pattern, or a cap turned off is refused.
    static func addGemma2(_ config: [String: Any], headDim: Int, into writer: inout GGUFWriter) throws {
        func refuse(_ key: String, _ what: String) throws -> Never {
            throw CheckpointError("config.json", "'\(key)' asks for \(what), which Swerve does not implement")
        }
        guard let window = config["sliding_window"] as? Int, window >= 1 else {
            try refuse("sliding_window", "Gemma 2 without a sliding window")
        }
        writer.set("gemma2.attention.sliding_window", .uint32(UInt32(window)))
        for key in ["attn_logit_softcapping", "final_logit_softcapping"] {
            guard let cap = (config[key] as? NSNumber)?.doubleValue, cap > 0, cap.isFinite else {
                try refuse(key, "no soft cap")
            }
            writer.set("gemma2.\(key)", .float32(Float(cap)))
        }
        let layers = config["num_hidden_layers"] as? Int ?? 0
        let derived =
            layers == 46 ? (config["hidden_size"] as? Int ?? 0) / (config["num_attention_heads"] as? Int ?? 1) : headDim
        if let scalar = config["query_pre_attn_scalar"] as? Int, scalar != derived {
            try refuse("query_pre_attn_scalar", "queries scaled by 1/√\(scalar), not llama.cpp's 1/√\(derived)")
        }
        if let types = config["layer_types"] as? [String],
            types != (0..<types.count).map({ $0 % 2 == 0 ? "sliding_attention" : "full_attention" })
        {
            try refuse("layer_types", "a pattern other than sliding and full layers alternating")
        }
    }

    /// Llama 3's per-pair RoPE divisors: 1 for wavelengths under original/high, `factor` over original/low,
    /// and a smooth blend between (transformers' `_compute_llama3_parameters`, as llama.cpp's converter turns
    /// it into `rope_freqs`).
    static func llama3Factors(
        headDim: Int,
        base: Double,
        factor: Double,
        low: Double,
        high: Double,
        original: Double
    ) -> [Float] {
        (0..<(headDim / 2)).map { i in
            let frequency = 1 / pow(base, Double(2 * i) / Double(headDim))
            let wavelength = 2 * Double.pi / frequency
            if wavelength < original / high { return 1 }
            if wavelength > original / low { return Float(factor) }
            let smooth = (original / wavelength - low) / (high - low)
            return Float(1 / ((1 - smooth) / factor + smooth))
        }
    }
}
