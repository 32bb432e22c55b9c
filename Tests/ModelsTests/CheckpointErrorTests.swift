import Foundation
import Models
import TestSupport
import Testing

/// A checkpoint that cannot load says which file and which key or tensor: a missing shard, a tensor of the
/// wrong shape, an unknown architecture, a config key Swerve cannot honour, a missing tokenizer.
@Suite struct CheckpointErrorTests {
    /// A copy of the tiny Qwen2 checkpoint, `edit` applied to its files.
    static func refusal(
        of fixture: String = "arch-qwen2-hf",
        weights: WeightFormat = WeightFormat(),
        _ edit: (URL) throws -> Void
    ) throws -> String {
        let source = URL(fileURLWithPath: ArchitectureFixture.path(of: fixture))
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("swerve-ckpt-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        try edit(copy)
        do {
            _ = try ModelFile(path: copy.path, weights: weights)
            return "loaded"
        } catch {
            return "\(error)"
        }
    }

    static func editConfig(_ folder: URL, _ change: (inout [String: Any]) -> Void) throws {
        let url = folder.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        change(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: url)
    }

    /// The refusal with config.json's `key` set to the JSON `value`.
    static func refusal(setting key: String, to value: String) throws -> String {
        try refusal { folder in
            let parsed = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
            try editConfig(folder) { $0[key] = parsed }
        }
    }

    @Test func theFixtureLoads() throws {
        #expect(try Self.refusal { _ in } == "loaded")
    }

    /// `--dtype` and `--quantization` values a checkpoint cannot take, and a saved dtype `auto` cannot keep,
    /// are refused naming the flag or the key; q4_0 and every float type load.
    @Test func weightFormatsItCannotHoldAreNamed() throws {
        #expect(
            try Self.refusal(weights: WeightFormat(quantization: "gguf")) { _ in }.hasPrefix("--quantization: 'gguf'")
        )
        #expect(try Self.refusal(weights: WeightFormat(dtype: "int4")) { _ in }.hasPrefix("--dtype: 'int4'"))
        let saved = try Self.refusal(setting: "torch_dtype", to: #""float8_e4m3fn""#)
        #expect(saved.hasPrefix("config.json: 'torch_dtype' is 'float8_e4m3fn'"), "\(saved)")
        for format in [
            WeightFormat(quantization: "q4_0"), WeightFormat(dtype: "bfloat16"), WeightFormat(dtype: "half"),
        ] {
            #expect(try Self.refusal(weights: format) { _ in } == "loaded", "\(format)")
        }
    }

    /// Gemma 2 settings llama.cpp's keys cannot carry are refused naming the key: a query scale other than
    /// 1/√head width, a layer pattern other than alternating, a soft cap turned off.
    @Test(arguments: [
        ("query_pre_attn_scalar", "256", "'query_pre_attn_scalar' asks for queries scaled by 1/√256"),
        ("layer_types", #"["full_attention", "sliding_attention"]"#, "'layer_types' asks for a pattern"),
        ("attn_logit_softcapping", "null", "'attn_logit_softcapping' asks for no soft cap"),
        ("sliding_window", "null", "'sliding_window' asks for Gemma 2 without a sliding window"),
    ])
    func gemma2SettingsItCannotHonourAreNamed(key: String, value: String, message: String) throws {
        #expect(try Self.refusal(of: "arch-gemma2-hf") { _ in } == "loaded")
        let refusal = try Self.refusal(of: "arch-gemma2-hf") { folder in
            let parsed = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
            try Self.editConfig(folder) { $0[key] = parsed is NSNull ? nil : parsed }
        }
        #expect(refusal.hasPrefix("config.json: \(message)"), "\(refusal)")
    }

    @Test func aMissingShardIsNamed() throws {
        let message = try Self.refusal { folder in
            let index = #"{"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}}"#
            try Data(index.utf8).write(to: folder.appendingPathComponent("model.safetensors.index.json"))
        }
        #expect(message.hasPrefix("model-00002-of-00002.safetensors: missing"), "\(message)")
    }

    @Test func aTensorOfTheWrongShapeIsNamed() throws {
        let message = try Self.refusal { try Self.editConfig($0) { $0["intermediate_size"] = 512 } }
        #expect(
            message.hasPrefix("model.safetensors: tensor 'model.layers.0.mlp.down_proj.weight' has shape [128, 256]"),
            "\(message)"
        )
    }

    @Test func anUnknownArchitectureIsNamed() throws {
        let message = try Self.refusal { try Self.editConfig($0) { $0["architectures"] = ["MambaForCausalLM"] } }
        #expect(message.hasPrefix("config.json: architectures 'MambaForCausalLM' is not supported"), "\(message)")
    }

    @Test(arguments: [
        ("rope_scaling", #"{"rope_type": "dynamic", "factor": 4.0}"#, "'rope_scaling' asks for 'dynamic' RoPE scaling"),
        (
            "rope_scaling", #"{"rope_type": "longrope", "original_max_position_embeddings": 64}"#,
            "'rope_scaling' needs 'long_factor'"
        ),
        ("rope_scaling", #"{"rope_type": "yarn", "factor": 40, "mscale": 0.7}"#, "'rope_scaling' sets 'mscale'"),
        ("hidden_act", #""gelu""#, "'hidden_act' asks for the 'gelu' activation"),
        ("use_sliding_window", "true", "'use_sliding_window' asks for sliding-window attention"),
        ("rope_scaling", #"{"rope_type": "linear"}"#, "'rope_scaling' has no positive 'factor' for 'linear' scaling"),
        (
            "rope_scaling", #"{"rope_type": "llama3", "factor": 8, "low_freq_factor": 4, "high_freq_factor": 4}"#,
            "'rope_scaling' has high_freq_factor 4.0 not above low_freq_factor 4.0"
        ),
        ("mlp_bias", "true", "'mlp_bias' asks for biases on the feed-forward matrices"),
    ])
    func aConfigKeyItCannotHonourIsNamed(key: String, value: String, message: String) throws {
        let refusal = try Self.refusal(setting: key, to: value)
        #expect(refusal.hasPrefix("config.json: \(message)"), "\(refusal)")
    }

    @Test(arguments: [
        ("num_attention_heads", "0", "'num_attention_heads' is 0"),
        ("hidden_size", "-128", "'hidden_size' is -128"),
        ("vocab_size", "99999999999", "'vocab_size' is 99999999999"),
        ("num_key_value_heads", "3", "4 heads of 32 cannot share 3 KV heads"),
    ])
    func impossibleSizesAreRefusedNotTrapped(key: String, value: String, message: String) throws {
        let refusal = try Self.refusal(setting: key, to: value)
        #expect(refusal.hasPrefix("config.json: \(message)"), "\(refusal)")
    }

    @Test func aHeaderWhoseShapeOverflowsIsRefused() throws {
        let refusal = try Self.refusal { folder in
            let header = #"{"model.norm.weight":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#
            var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
            bytes += Array(header.utf8) + [UInt8](repeating: 0, count: 16)
            try Data(bytes).write(to: folder.appendingPathComponent("model.safetensors"))
        }
        #expect(refusal.hasPrefix("model.safetensors: tensor 'model.norm.weight' has 16 bytes"), "\(refusal)")
    }

    /// An end offset near Int.max once overflowed the bounds check (found by the `safetensors` fuzz harness).
    @Test func aHeaderWhoseOffsetsOverflowAreRefused() throws {
        let header = #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,9223372036854775807]}}"#
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
        bytes += Array(header.utf8) + [UInt8](repeating: 0, count: 16)
        #expect {
            try SafetensorsFile(bytes: bytes, path: "model.safetensors")
        } throws: {
            "\($0)".hasPrefix("model.safetensors: tensor 'w' lies outside the file")
        }
    }

    @Test func aTokenizerItCannotReadIsNamed() throws {
        func tokenizer(_ edit: @escaping (inout [String: Any]) -> Void) throws -> String {
            try Self.refusal { folder in
                let url = folder.appendingPathComponent("tokenizer.json")
                var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
                edit(&json)
                try JSONSerialization.data(withJSONObject: json).write(to: url)
            }
        }
        let fallback = try tokenizer { json in
            var model = json["model"] as! [String: Any]
            model["byte_fallback"] = true
            json["model"] = model
        }
        // Byte fallback with a byte-level pre-tokenizer, or a Metaspace that splits words: not SentencePiece's.
        #expect(fallback.hasPrefix("tokenizer.json: a byte-fallback tokenizer needs"), "\(fallback)")
        let splitting = try tokenizer { json in
            var model = json["model"] as! [String: Any]
            model["byte_fallback"] = true
            json["model"] = model
            json["pre_tokenizer"] = ["type": "Metaspace", "replacement": "\u{2581}", "split": true]
        }
        #expect(splitting.contains("pre_tokenizer 'Metaspace' is not one"), "\(splitting)")
        let normalizer = try tokenizer { json in
            var model = json["model"] as! [String: Any]
            model["byte_fallback"] = true
            json["model"] = model
            json["pre_tokenizer"] = nil
            json["normalizer"] = ["type": "NFKC"]
        }
        #expect(normalizer.hasPrefix("tokenizer.json: normalizer step 'NFKC'"), "\(normalizer)")
        let regex = try tokenizer { json in
            json["pre_tokenizer"] = [
                "type": "Sequence",
                "pretokenizers": [
                    ["type": "Split", "pattern": ["Regex": "\\w+"]], ["type": "ByteLevel", "use_regex": false],
                ],
            ]
        }
        #expect(regex.hasPrefix("tokenizer.json: pre_tokenizer regex \\w+ has no matcher"), "\(regex)")
        let garbage = try Self.refusal {
            try Data("{not json".utf8).write(to: $0.appendingPathComponent("tokenizer.json"))
        }
        #expect(garbage.hasPrefix("tokenizer.json: not a tokenizer.json object"), "\(garbage)")
    }

    @Test func aCorruptShardOrMissingTokenizerIsNamed() throws {
        let truncated = try Self.refusal { folder in
            let url = folder.appendingPathComponent("model.safetensors")
            try Data(try Data(contentsOf: url).prefix(1000)).write(to: url)
        }
        #expect(truncated.hasPrefix("model.safetensors: "), "\(truncated)")
        let noTokenizer = try Self.refusal {
            try FileManager.default.removeItem(at: $0.appendingPathComponent("tokenizer.json"))
        }
        #expect(noTokenizer.hasPrefix("tokenizer.json: missing"), "\(noTokenizer)")
    }
}

/// A checkpoint's tokenizer.json against Hugging Face `tokenizers` on the same file: SmolLM2's (written from
/// its GGUF by scripts/gguf-tokenizer-json.py, as the checkpoint the tests build carries it), on the
/// multilingual corpus of the GGUF tokenizer tests (scripts/make-tokenizer-json-fixture.py).
@Suite(.tags(.realModel), .needsRealModels) struct CheckpointTokenizerTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var text: String
            var ids: [Int]
        }

        var generator: String
        var cases: [Case]
    }

    /// A SentencePiece-style tokenizer.json (byte fallback, U+2581 spaces; llama.cpp's llama-spm test
    /// vocabulary in Llama 2's layout, and with a Metaspace pre-tokenizer in place of its normalizer, both
    /// prefix schemes) gives the `tokenizers` package's ids on the multilingual corpus, llama.cpp's own test
    /// texts and texts around special tokens.
    @Test(arguments: [nil, "first", "always"])
    func sentencePieceTokenizerJSONGivesTheIDsOfHuggingFaceTokenizers(metaspace: String?) async throws {
        let name = metaspace.map { "tokenizer-json-spm-metaspace-\($0)-parity" } ?? "tokenizer-json-spm-parity"
        let fixture = try loadFixture(name, as: Fixture.self, in: .module)
        let source = URL(fileURLWithPath: ArchitectureFixture.path(of: "arch-llama-hf"))
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("swerve-spm-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.removeItem(at: copy.appendingPathComponent("tokenizer.json"))
        let url = copy.appendingPathComponent("tokenizer.json")
        try FileManager.default.copyItem(
            at: URL(fileURLWithPath: try await TestModels.sentencePieceTokenizerJSON()),
            to: url
        )
        if let metaspace {
            // Edited as text: a [String: Any] round trip would merge vocabulary pieces that are canonically
            // equivalent (Swift's String keys), which is what the checkpoint loader must not do.
            let normalizer =
                #""normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, "#
                + #"{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}, "pre_tokenizer": null"#
            let pre =
                #""normalizer": null, "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "#
                + #""prepend_scheme": "\#(metaspace)", "split": false}"#
            let text = try String(contentsOf: url, encoding: .utf8)
            #expect(text.contains(normalizer))
            try text.replacingOccurrences(of: normalizer, with: pre).write(to: url, atomically: true, encoding: .utf8)
        }
        let config = #"{"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": true}"#
        try Data(config.utf8).write(to: copy.appendingPathComponent("tokenizer_config.json"))
        try CheckpointErrorTests.editConfig(copy) { $0["vocab_size"] = nil }
        let tokenizer = try PromptEncoder(gguf: ModelFile.open(copy.path)).tokenizer
        #expect(fixture.cases.count > 70)
        for c in fixture.cases {
            let ids = tokenizer.encode(c.text, parseSpecial: true, addBOS: false)
            #expect(ids == c.ids, "\(c.text.debugDescription)")
        }
        #expect(tokenizer.encode("Hello", parseSpecial: false, addBOS: true).first == 1, "<s> first")
        #expect(tokenizer.specialIDs.eos == 2)
    }

    @Test func tokenizerJSONGivesTheIDsOfHuggingFaceTokenizers() async throws {
        let fixture = try loadFixture("tokenizer-json-parity", as: Fixture.self, in: .module)
        let model = try ModelFile(path: try await TestModels.smollm2Checkpoint())
        #expect(fixture.cases.count > 30)
        for c in fixture.cases {
            #expect(
                model.tokenizer.encode(c.text, parseSpecial: true, addBOS: false) == c.ids,
                "\(c.text.debugDescription)"
            )
        }
    }
}
