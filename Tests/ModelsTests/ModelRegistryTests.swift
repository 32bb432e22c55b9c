import GGUF
import Models
import TestSupport
import Testing

/// A llama-architecture file with the given metadata and every block tensor (tiny F32 shapes).
func tinyLlama(blocks: Int = 2, heads: UInt32 = 4, kvHeads: UInt32 = 2, skip: String? = nil) -> GGUFWriter {
    var w = GGUFWriter()
    w.set("general.architecture", .string("llama"))
    w.set("llama.block_count", .uint32(UInt32(blocks)))
    w.set("llama.embedding_length", .uint32(8))
    w.set("llama.feed_forward_length", .uint32(16))
    w.set("llama.attention.head_count", .uint32(heads))
    w.set("llama.attention.head_count_kv", .uint32(kvHeads))
    w.set("llama.context_length", .uint32(64))
    w.set("llama.rope.freq_base", .float32(10_000))
    w.set("llama.attention.layer_norm_rms_epsilon", .float32(1e-5))
    w.set("tokenizer.ggml.tokens", .array(.string, (0..<10).map { .string("t\($0)") }))
    var names = ["token_embd.weight", "output_norm.weight"]
    for b in 0..<blocks {
        for suffix in [
            "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down",
        ] {
            names.append("blk.\(b).\(suffix).weight")
        }
    }
    for name in names where name != skip {
        w.addTensor(name, shape: [8], floats: [Float](repeating: 1, count: 8))
    }
    return w
}

@Suite struct ModelRegistryTests {
    @Test func readsLlamaHyperparameters() throws {
        let config = try ModelRegistry.config(of: GGUFFile(bytes: tinyLlama().bytes()))
        #expect(config.architecture == "llama")
        #expect(config.blockCount == 2)
        #expect(config.headCount == 4 && config.headCountKV == 2 && config.headDimension == 2)
        #expect(config.vocabularySize == 10)
        #expect(config.tiedEmbedding)
    }

    @Test func refusesWhatItCannotRun() throws {
        #expect(throws: ModelError.missing("tensor 'blk.1.ffn_up.weight'")) {
            try ModelRegistry.config(of: GGUFFile(bytes: tinyLlama(skip: "blk.1.ffn_up.weight").bytes()))
        }
        #expect(throws: ModelError.self) {
            try ModelRegistry.config(of: GGUFFile(bytes: tinyLlama(heads: 4, kvHeads: 3).bytes()))
        }
        var other = tinyLlama()
        other.set("general.architecture", .string("mamba"))
        #expect(throws: ModelError.unsupportedArchitecture("mamba")) {
            try ModelRegistry.config(of: GGUFFile(bytes: other.bytes()))
        }
        var incomplete = GGUFWriter()
        incomplete.set("general.architecture", .string("llama"))
        #expect(throws: ModelError.self) { try ModelRegistry.config(of: GGUFFile(bytes: incomplete.bytes())) }
    }

    /// Linear, Llama 3, YaRN and LongRoPE scaling and a sliding window on every layer apply; RoPE variants no
    /// forward pass implements (dynamic NTK, DeepSeek's YaRN, partial rotation) and malformed factors are refused
    /// naming the key, never ignored.
    @Test func appliesTheRoPEAndWindowsItImplementsAndRefusesTheRest() throws {
        func load(_ edit: (inout GGUFWriter) -> Void) -> Result<ModelConfig, ModelError> {
            var w = tinyLlama()
            edit(&w)
            do {
                return .success(try ModelRegistry.config(of: GGUFFile(bytes: w.bytes())))
            } catch {
                return .failure(error as! ModelError)
            }
        }
        func refusal(_ edit: (inout GGUFWriter) -> Void) -> ModelError? {
            if case .failure(let error) = load(edit) { return error }
            return nil
        }
        #expect(refusal { $0.set("llama.rope.scaling.type", .string("none")) } == nil)
        #expect(refusal { $0.set("llama.rope.dimension_count", .uint32(2)) } == nil)
        let dynamic = refusal { $0.set("llama.rope.scaling.type", .string("dynamic")) }
        #expect(dynamic == .unsupportedFeature(key: "llama.rope.scaling.type", what: "'dynamic' RoPE scaling"))
        let linear = try load {
            $0.set("llama.rope.scaling.type", .string("linear"))
            $0.set("llama.rope.scaling.factor", .float32(4))
        }.get()
        #expect(linear.ropeFrequencyScale == 0.25)
        #expect(refusal { $0.set("llama.rope.scaling.factor", .float32(-2)) }?.description.contains("factor") == true)
        let partial = refusal { $0.set("llama.rope.dimension_count", .uint32(1)) }
        #expect(partial?.description.contains("'llama.rope.dimension_count'") == true, "\(String(describing: partial))")
        #expect(try load { $0.set("llama.attention.sliding_window", .uint32(64)) }.get().slidingWindow == nil)
        let window = try load { $0.set("llama.attention.sliding_window", .uint32(16)) }.get()
        #expect(window.slidingWindow == 16 && window.isSlidingWindowLayer(0) && window.isSlidingWindowLayer(1))
        // tinyLlama's heads are 2 wide: one rotated pair, so one factor.
        #expect(refusal { $0.addTensor("rope_freqs.weight", shape: [1], floats: [2]) } == nil)
        let freqs = refusal { $0.addTensor("rope_freqs.weight", shape: [2], floats: [1, 2]) }
        #expect(freqs?.description.contains("'rope_freqs.weight'") == true, "\(String(describing: freqs))")
        let yarn2 = try load {
            $0.set("llama.rope.scaling.type", .string("yarn"))
            $0.set("llama.rope.scaling.factor", .float32(4))
            $0.set("llama.rope.scaling.original_context_length", .uint32(16))
        }.get()
        #expect(yarn2.yarn?.factor == 4 && yarn2.yarn?.originalContext == 16 && yarn2.ropeFrequencyScale == 1)
        let shrinking = refusal {
            $0.set("llama.rope.scaling.type", .string("yarn"))
            $0.set("llama.rope.scaling.factor", .float32(0.5))
        }
        #expect(shrinking?.description.contains("YaRN scaling needs a factor of at least 1") == true)
        let deepseek = refusal {
            $0.set("llama.rope.scaling.type", .string("yarn"))
            $0.set("llama.rope.scaling.yarn_log_multiplier", .float32(0.1))
        }
        #expect(deepseek?.description.contains("yarn_log_multiplier") == true, "\(String(describing: deepseek))")
        let halfLongRoPE = refusal { $0.addTensor("rope_factors_long.weight", shape: [1], floats: [1]) }
        #expect(halfLongRoPE?.description.contains("rope_factors_short.weight") == true)
        let longRoPE = refusal {
            $0.addTensor("rope_factors_long.weight", shape: [1], floats: [4])
            $0.addTensor("rope_factors_short.weight", shape: [1], floats: [1])
        }
        #expect(longRoPE == nil)
    }

    @Test(.tags(.realModel), .needsRealModels) func realModels() async throws {
        let smol = try ModelFile(path: try await TestModels.smollm2())
        #expect(smol.config.blockCount == 30 && smol.config.embeddingLength == 576)
        #expect(smol.config.headCount == 9 && smol.config.headCountKV == 3 && smol.config.headDimension == 64)
        #expect(smol.config.feedForwardLength == 1536 && smol.config.ropeFrequencyBase == 100_000)
        #expect(smol.config.tiedEmbedding && smol.config.vocabularySize == 49152)
        #expect(smol.tokenizer.specialIDs.eos == 2)
        let prompt = try smol.renderChat(try .init(json: #"[{"role":"user","content":"Hi"}]"#))
        #expect(prompt.hasPrefix("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"))
        #expect(prompt.hasSuffix("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"))

        let gemma = try ModelRegistry.config(of: GGUFFile(path: try await TestModels.gemma3()))
        #expect(gemma.architecture == "gemma3" && gemma.blockCount == 18 && gemma.headDimension == 256)
        #expect(gemma.headCountKV == 1 && gemma.slidingWindow == 512)
    }
}
