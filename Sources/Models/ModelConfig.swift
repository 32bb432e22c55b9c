import GGUF

/// The hyperparameters a forward pass needs, read from a GGUF file's `<architecture>.*` metadata.
public struct ModelConfig: Sendable, Equatable {
    public var architecture: String
    public var blockCount: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var headCountKV: Int
    public var headDimension: Int
    public var contextLength: Int
    public var vocabularySize: Int
    public var ropeFrequencyBase: Double
    public var rmsNormEpsilon: Double
    /// Attention window of sliding-window layers, if the architecture has them.
    public var slidingWindow: Int?
    /// With a sliding window: every `slidingWindowPattern`-th layer (the last of each group) is global.
    public var slidingWindowPattern: Int?
    /// RoPE base of sliding-window layers.
    public var ropeFrequencyBaseSliding: Double
    /// 1 / `rope.scaling.factor` (linear RoPE scaling, as llama.cpp reads the key unless the scaling type
    /// is YaRN; 1 without it). Per-pair factors (Llama 3's) are the `rope_freqs` tensor, which the forward
    /// passes read (`RoPEFrequencies`).
    public var ropeFrequencyScale: Double
    /// YaRN scaling, when the file's `rope.scaling.type` is yarn.
    public var yarn: YaRNScaling?
    /// Whether the output projection reuses the token embedding (no `output.weight` tensor).
    public var tiedEmbedding: Bool

    /// Reads the common keys; architecture files adjust what differs.
    public init(gguf: GGUFFile, architecture arch: String) throws(GGUFError) {
        architecture = arch
        blockCount = try gguf.int("\(arch).block_count")
        embeddingLength = try gguf.int("\(arch).embedding_length")
        feedForwardLength = try gguf.int("\(arch).feed_forward_length")
        headCount = try gguf.int("\(arch).attention.head_count")
        headCountKV = gguf["\(arch).attention.head_count_kv"]?.int ?? headCount
        headDimension = gguf["\(arch).attention.key_length"]?.int ?? (headCount > 0 ? embeddingLength / headCount : 0)
        contextLength = try gguf.int("\(arch).context_length")
        vocabularySize = gguf["\(arch).vocab_size"]?.int ?? gguf["tokenizer.ggml.tokens"]?.array?.count ?? 0
        ropeFrequencyBase = gguf["\(arch).rope.freq_base"]?.double ?? 10_000
        rmsNormEpsilon = try gguf.double("\(arch).attention.layer_norm_rms_epsilon")
        slidingWindow = gguf["\(arch).attention.sliding_window"]?.int
        ropeFrequencyBaseSliding = gguf["\(arch).rope.freq_base_swa"]?.double ?? ropeFrequencyBase
        yarn = YaRNScaling(gguf: gguf, architecture: arch, contextLength: contextLength)
        // YaRN uses the factor itself; LongRoPE files carry none (llama.cpp would scale by one anyway).
        let factor = yarn == nil ? gguf["\(arch).rope.scaling.factor"]?.double ?? 0 : 0
        ropeFrequencyScale = factor == 0 ? 1 : 1 / factor
        tiedEmbedding = gguf.info("output.weight") == nil
    }

    /// Whether layer `layer` attends through the sliding window: every layer when there is a window and no
    /// pattern (Mistral's, Phi-3's), the local layers of a pattern (Gemma's); false without a window.
    public func isSlidingWindowLayer(_ layer: Int) -> Bool {
        guard slidingWindow != nil else { return false }
        guard let pattern = slidingWindowPattern, pattern > 0 else { return true }
        return layer % pattern < pattern - 1
    }

    /// The attention window of layer `layer`: the sliding window on a sliding-window layer, nil (the whole
    /// context) otherwise.
    public func window(ofLayer layer: Int) -> Int? { isSlidingWindowLayer(layer) ? slidingWindow : nil }

    /// Parameters in all tensors of `gguf`.
    public static func parameterCount(_ gguf: GGUFFile) -> Int {
        gguf.tensors.reduce(0) { $0 + $1.elementCount }
    }
}
