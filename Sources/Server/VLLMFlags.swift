import Engine

/// vLLM's flags that choose hardware paths this build does not have, checked at startup: each is refused
/// with a sentence saying why when it cannot take effect, or accepted with a logged notice when it has no
/// meaning here, so a launch command written for vLLM either runs as meant or says what to change.
public struct VLLMFlags: Sendable, Equatable {
    /// `--dtype`: auto, float16/half, bfloat16, float32/float.
    public var dtype = "auto"
    /// `--quantization`: the weights' format; Swerve reads GGUF files, so only `gguf` (or none).
    public var quantization: String?
    public var tensorParallelSize = 1
    public var enforceEager = false
    public var trustRemoteCode = false

    public init(
        dtype: String = "auto",
        quantization: String? = nil,
        tensorParallelSize: Int = 1,
        enforceEager: Bool = false,
        trustRemoteCode: Bool = false
    ) {
        self.dtype = dtype
        self.quantization = quantization
        self.tensorParallelSize = tensorParallelSize
        self.enforceEager = enforceEager
        self.trustRemoteCode = trustRemoteCode
    }

    /// The notices to log once; throws `EngineError.configuration` for a flag that cannot take effect.
    public func check() throws(EngineError) -> [String] {
        var notices: [String] = []
        switch dtype.lowercased() {
        case "auto", "float32", "float": break
        case "float16", "half", "bfloat16":
            notices.append(
                "--dtype \(dtype): the CPU backend computes in float32 on the GGUF file's own weight types "
                    + "(as vLLM's CPU backend casts float16), and keeps the KV cache in --kv-cache-dtype"
            )
        default:
            throw .configuration("--dtype must be auto, float16, half, bfloat16, float32 or float; got '\(dtype)'")
        }
        if let quantization, quantization.lowercased() != "gguf" {
            throw .configuration(
                "--quantization \(quantization) cannot take effect: Swerve reads GGUF files, whose quantization "
                    + "(Q4_1, Q8_0, Q4_K, ...) is the file's own; pass --quantization gguf or leave it out"
            )
        }
        guard tensorParallelSize >= 1 else { throw .configuration("--tensor-parallel-size must be at least 1") }
        if tensorParallelSize > 1 {
            throw .configuration(
                "--tensor-parallel-size \(tensorParallelSize) cannot take effect: tensor parallelism splits "
                    + "weights across several GPUs, and this build runs one CPU backend (use --threads for cores)"
            )
        }
        if enforceEager {
            notices.append("--enforce-eager: the CPU backend has no CUDA graphs to turn off; it always runs eagerly")
        }
        if trustRemoteCode {
            notices.append("--trust-remote-code has no meaning here: GGUF models carry no code to run")
        }
        return notices
    }
}
