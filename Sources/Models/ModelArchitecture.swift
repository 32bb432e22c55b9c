import GGUF
import SwerveCore

/// One model architecture Swerve knows: how to read its configuration and check its tensors.
public protocol ModelArchitecture: Sendable {
    /// `general.architecture` value it handles.
    static var name: String { get }
    /// Reads and validates the configuration.
    static func config(from gguf: GGUFFile) throws(ModelError) -> ModelConfig
    /// The forward pass over `backend`, its weights loaded, scratch for batches of up to `maxBatch` tokens
    /// from up to `maxSequences` sequences.
    static func makeForward(
        gguf: GGUFFile,
        config: ModelConfig,
        backend: any Backend,
        maxBatch: Int,
        maxSequences: Int
    ) throws -> any ForwardPass
}

/// Architectures by `general.architecture`.
public enum ModelRegistry {
    public static let architectures: [any ModelArchitecture.Type] = [
        LlamaArchitecture.self, Qwen2Architecture.self, Qwen3Architecture.self, Phi3Architecture.self,
        Gemma2Architecture.self, Gemma3Architecture.self,
    ]

    public static func architecture(named name: String) -> (any ModelArchitecture.Type)? {
        architectures.first { $0.name == name }
    }

    /// The configuration of a GGUF model, or an error naming what is unsupported or missing.
    public static func config(of gguf: GGUFFile) throws(ModelError) -> ModelConfig {
        guard let name = gguf.architecture else { throw .missing("general.architecture") }
        guard let architecture = architecture(named: name) else { throw .unsupportedArchitecture(name) }
        return try architecture.config(from: gguf)
    }

    /// The forward pass of a GGUF model over `backend`: the backend's own when it supplies one for the
    /// architecture (`ForwardPassProvider`), otherwise the architecture's, op by op on the backend.
    public static func makeForward(
        gguf: GGUFFile,
        backend: any Backend,
        maxBatch: Int,
        maxSequences: Int = 1
    ) throws -> any ForwardPass {
        let config = try config(of: gguf)
        if let provider = backend as? any ForwardPassProvider,
            let own = try provider.makeForward(
                gguf: gguf,
                config: config,
                maxBatch: maxBatch,
                maxSequences: maxSequences
            )
        {
            return own
        }
        // `config(of:)` found the architecture.
        let architecture = architecture(named: config.architecture)!
        return try architecture.makeForward(
            gguf: gguf,
            config: config,
            backend: backend,
            maxBatch: maxBatch,
            maxSequences: maxSequences
        )
    }
}

/// Why a model file cannot be used.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case unsupportedArchitecture(String)
    case missing(String)
    case invalid(String)
    /// A metadata key or tensor asks for something Swerve does not implement (refused, never ignored).
    case unsupportedFeature(key: String, what: String)
    case file(GGUFError)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let name):
            "architecture '\(name)' is not supported; supported: \(ModelRegistry.architectures.map { $0.name }.joined(separator: ", "))"
        case .missing(let what): "the model file has no \(what)"
        case .invalid(let what): "the model file is inconsistent: \(what)"
        case .unsupportedFeature(let key, let what): "'\(key)' asks for \(what), which Swerve does not implement"
        case .file(let error): error.description
        }
    }
}

extension ModelArchitecture {
    /// Reads the common configuration and checks the tensors every transformer block needs.
    static func standardConfig(_ gguf: GGUFFile, blockTensors: [String]) throws(ModelError) -> ModelConfig {
        let config: ModelConfig
        do {
            config = try ModelConfig(gguf: gguf, architecture: name)
        } catch {
            throw .file(error)
        }
        guard config.headCount > 0, config.headCountKV > 0, config.headCount % config.headCountKV == 0 else {
            throw .invalid("\(config.headCount) attention heads cannot share \(config.headCountKV) KV heads")
        }
        let valueLength = gguf["\(name).attention.value_length"]?.int ?? config.headDimension
        guard valueLength == config.headDimension else {
            throw .invalid(
                "'\(name).attention.value_length' is \(valueLength) and key_length \(config.headDimension): "
                    + "Swerve's attention needs keys and values of one width"
            )
        }
        guard config.contextLength > 0 else { throw .invalid("'\(name).context_length' is 0") }
        for (key, value, least) in [
            ("rope.freq_base", config.ropeFrequencyBase, Double.leastNonzeroMagnitude),
            ("attention.layer_norm_rms_epsilon", config.rmsNormEpsilon, 0),
        ] where !(value.isFinite && value >= least) {
            throw .invalid("'\(name).\(key)' is \(value), not a \(least > 0 ? "positive" : "non-negative") number")
        }
        try checkRoPE(gguf, config)
        for required in ["token_embd.weight", "output_norm.weight"] where gguf.info(required) == nil {
            throw .missing("tensor '\(required)'")
        }
        for block in 0..<config.blockCount {
            for suffix in blockTensors where gguf.info("blk.\(block).\(suffix)") == nil {
                throw .missing("tensor 'blk.\(block).\(suffix)'")
            }
        }
        return config
    }
}

extension ModelArchitecture {
    /// The llama family's configuration: `standardConfig`; a sliding window (Mistral v0.1's, Phi-3's) applies
    /// to every layer.
    static func llamaFamilyConfig(_ gguf: GGUFFile, blockTensors: [String]) throws(ModelError) -> ModelConfig {
        var config = try standardConfig(gguf, blockTensors: blockTensors)
        if let window = config.slidingWindow, window >= config.contextLength { config.slidingWindow = nil }
        return config
    }

    /// Refuses the RoPE variants the forward passes do not implement: per-pair factor tensors that are not
    /// one f32 factor per rotated pair, two kinds of scaling at once, DeepSeek's YaRN, and rotation of only
    /// part of each head. Linear scaling (`rope.scaling.factor`), Llama 3's per-pair factors (`rope_freqs`),
    /// YaRN and LongRoPE (`rope_factors_long`/`short`) apply.
    static func checkRoPE(_ gguf: GGUFFile, _ config: ModelConfig) throws(ModelError) {
        let scaling = "\(name).rope.scaling.type"
        if let type = gguf[scaling]?.string, !["none", "linear", "yarn", "longrope"].contains(type) {
            throw .unsupportedFeature(key: scaling, what: "'\(type)' RoPE scaling")
        }
        if let factor = gguf["\(name).rope.scaling.factor"]?.double, !(factor >= 0 && factor.isFinite) {
            throw .invalid("'\(name).rope.scaling.factor' is \(factor), not a positive scale")
        }
        for key in ["yarn_log_multiplier", "yarn_ext_factor", "yarn_attn_factor"]
        where config.yarn != nil && gguf["\(name).rope.scaling.\(key)"] != nil {
            throw .unsupportedFeature(key: "\(name).rope.scaling.\(key)", what: "YaRN's '\(key)' (DeepSeek's variant)")
        }
        if config.yarn != nil, gguf.info("rope_freqs.weight") != nil {
            throw .unsupportedFeature(key: "rope_freqs.weight", what: "per-pair factors on top of YaRN scaling")
        }
        if let yarn = config.yarn,
            !(yarn.factor >= 1 && yarn.originalContext > 0 && yarn.betaFast > 0 && yarn.betaSlow > 0)
        {
            throw .invalid("YaRN scaling needs a factor of at least 1, an original context and positive betas: \(yarn)")
        }
        let longRoPE = ["rope_factors_long.weight", "rope_factors_short.weight"].filter { gguf.info($0) != nil }
        if !longRoPE.isEmpty && (longRoPE.count < 2 || config.yarn != nil || gguf.info("rope_freqs.weight") != nil) {
            throw .invalid(
                "LongRoPE needs both 'rope_factors_long.weight' and 'rope_factors_short.weight' and no other scaling"
            )
        }
        for tensor in ["rope_freqs.weight"] + longRoPE {
            if let factors = gguf.info(tensor),
                factors.type != .f32 || factors.shape.count != 1 || factors.elementCount != config.headDimension / 2
            {
                throw .invalid("'\(tensor)' must be \(config.headDimension / 2) f32 factors, one per rotated pair")
            }
        }
        let dimensions = "\(name).rope.dimension_count"
        if let rotated = gguf[dimensions]?.int, rotated != config.headDimension {
            throw .unsupportedFeature(
                key: dimensions,
                what: "RoPE on \(rotated) of each head's \(config.headDimension) dimensions"
            )
        }
    }
}

/// A backend that runs some architectures' whole forward pass itself (fused kernels, a captured graph)
/// instead of the op-by-op default each architecture writes against `Backend`. nil for an architecture it
/// leaves to the default.
public protocol ForwardPassProvider: Backend {
    func makeForward(gguf: GGUFFile, config: ModelConfig, maxBatch: Int, maxSequences: Int) throws -> (any ForwardPass)?
}
