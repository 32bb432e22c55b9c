import Engine

/// vLLM's flags that choose hardware paths this build does not have, checked at startup: each is refused
/// with a sentence saying why when it cannot take effect, or accepted with a logged notice when it has no
/// meaning here, so a launch command written for vLLM either runs as meant or says what to change.
public struct VLLMFlags: Sendable, Equatable {
    /// `--dtype`: auto, float16/half, bfloat16, float32/float.
    public var dtype = "auto"
    /// `--quantization`: `gguf` (a GGUF file's own types), `q8_0` or `q4_0` (what a float checkpoint's
    /// matrices are quantized to on load; left out, they stay floats of `--dtype`); GPU formats are refused.
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
                "--dtype \(dtype): a checkpoint's matrices are held as \(dtype) (without --quantization) and "
                    + "multiplied by float kernels with float32 activations, as vLLM's CPU backend computes; a GGUF "
                    + "file keeps its own weight types; the KV cache follows --kv-cache-dtype"
            )
        default:
            throw .configuration("--dtype must be auto, float16, half, bfloat16, float32 or float; got '\(dtype)'")
        }
        switch quantization?.lowercased() {
        case nil, "gguf", "q8_0", "q4_0": break
        case "fp8":
            throw .configuration(
                "--quantization fp8 cannot take effect: fp8 weights need a GPU's fp8 matrix units, which the CPU "
                    + "backend does not have; use --quantization q8_0 (8-bit integer blocks, int8 dot products)"
            )
        case let other:
            throw .configuration(
                "--quantization \(other ?? "") cannot take effect: a GGUF file's quantization (Q4_1, Q8_0, Q4_K, ...) "
                    + "is its own (gguf), and a float checkpoint's matrices are quantized on load to q8_0 or q4_0"
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
