import SwerveCore

/// What a float checkpoint's matrices become in memory, from vLLM's two flags: `--quantization` names an
/// on-load quantization (q8_0, q4_0: integer blocks and int8 dot products, GGUF speed); without it the
/// weights stay floats of `--dtype` (`auto`: config.json's `torch_dtype`), multiplied by the float kernels.
/// A GGUF file keeps its own types whatever these say (vLLM's `gguf` quantization).
public struct WeightFormat: Sendable, Equatable {
    /// `--dtype`: auto, float16/half, bfloat16, float32/float.
    public var dtype: String
    /// `--quantization`: nil, gguf, q8_0 or q4_0.
    public var quantization: String?

    public init(dtype: String = "auto", quantization: String? = nil) {
        self.dtype = dtype
        self.quantization = quantization
    }

    /// On-load quantizations by `--quantization` name.
    public static let quantizations: [String: GGMLType] = ["q8_0": .q8_0, "q4_0": .q4_0]
    /// Float types by `--dtype` name.
    public static let dtypes: [String: GGMLType] = [
        "float16": .f16, "half": .f16, "bfloat16": .bf16, "float32": .f32, "float": .f32,
    ]

    /// The float type `--dtype` names; nil for auto.
    public func floatType() throws(CheckpointError) -> GGMLType? {
        let name = dtype.lowercased()
        if name == "auto" { return nil }
        guard let type = Self.dtypes[name] else {
            throw CheckpointError("--dtype", "'\(dtype)' is not auto, float16, half, bfloat16, float32 or float")
        }
        return type
    }

    /// The type a checkpoint's matrices are held in, given its config.json (`torch_dtype`, or `dtype` as
    /// newer transformers write it, for `--dtype auto`; float32 when it names neither).
    public func checkpointType(config: [String: Any]) throws(CheckpointError) -> GGMLType {
        if let quantization = quantization?.lowercased() {
            guard let type = Self.quantizations[quantization] else {
                throw CheckpointError(
                    "--quantization",
                    "'\(quantization)' cannot apply to a float checkpoint; its matrices are quantized on load to "
                        + "q8_0 or q4_0, or kept as floats of --dtype when the flag is left out"
                )
            }
            return type
        }
        if let type = try floatType() { return type }
        let saved = (config["torch_dtype"] ?? config["dtype"]) as? String ?? "float32"
        guard let type = Self.dtypes[saved] else {
            throw CheckpointError(
                "config.json",
                "'torch_dtype' is '\(saved)'; --dtype auto keeps float16, bfloat16 or float32 (pass --dtype or --quantization)"
            )
        }
        return type
    }
}
