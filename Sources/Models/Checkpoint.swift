import Foundation
import GGUF
import SwerveCore

/// A Hugging Face checkpoint directory (`config.json`, `*.safetensors` with or without an index,
/// `tokenizer.json`, `tokenizer_config.json`) turned, in memory, into the GGUF file llama.cpp's converter
/// would write for it: llama.cpp's tensor names and metadata keys, Llama's q/k rows reordered for GGUF's
/// RoPE layout, matrices as `WeightFormat` says (floats of `--dtype`, or quantized on load), vectors as f32. Everything downstream (the
/// architectures, tokenizers, chat template) then reads it as it reads any GGUF file. Float checkpoints
/// only (F32, F16, BF16); a config key that changes the arithmetic and that Swerve does not implement is
/// refused naming it, never ignored.
public enum Checkpoint {
    /// Whether `path` is a checkpoint directory (it holds a `config.json`).
    public static func isCheckpoint(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
            && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("config.json"))
    }

    /// How each supported `architectures` entry maps onto a GGUF architecture.
    struct Mapping {
        var architecture: String
        /// Llama's converter reorders q/k rows from Hugging Face's half-split RoPE to GGUF's adjacent pairs.
        var permutesQK: Bool
        /// Gemma: RMSNorm weights stored as w where the model computes x · (1 + w) (GGUF holds 1 + w), and
        /// norms after attention and the feed-forward block.
        var gemma = false
    }

    static let mappings: [String: Mapping] = [
        "LlamaForCausalLM": Mapping(architecture: "llama", permutesQK: true),
        "MistralForCausalLM": Mapping(architecture: "llama", permutesQK: true),
        "Qwen2ForCausalLM": Mapping(architecture: "qwen2", permutesQK: false),
        "Qwen3ForCausalLM": Mapping(architecture: "qwen3", permutesQK: false),
        "Phi3ForCausalLM": Mapping(architecture: "phi3", permutesQK: false),
        "Gemma2ForCausalLM": Mapping(architecture: "gemma2", permutesQK: false, gemma: true),
    ]

    /// Gemma's names for its sandwich norms, as llama.cpp names them.
    static let gemmaLayerNames: [String: String] = [
        "post_attention_layernorm.weight": "post_attention_norm.weight",
        "pre_feedforward_layernorm.weight": "ffn_norm.weight",
        "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
    ]

    /// Hugging Face tensor names within a layer, as llama.cpp names them.
    static let layerNames: [String: String] = [
        "input_layernorm.weight": "attn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight", "self_attn.q_proj.bias": "attn_q.bias",
        "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias",
        "self_attn.o_proj.weight": "attn_output.weight", "self_attn.qkv_proj.weight": "attn_qkv.weight",
        "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
        "mlp.gate_up_proj.weight": "ffn_up.weight",
    ]

    /// The checkpoint at `directory` as an in-memory GGUF file, matrices held as `weights` says.
    public static func gguf(directory path: String, weights: WeightFormat = WeightFormat()) throws -> GGUFFile {
        let directory = URL(fileURLWithPath: path)
        let config = try readJSON(directory, "config.json")
        let weightType = try weights.checkpointType(config: config)
        var writer = GGUFWriter()
        let mapping = try architecture(config)
        let arch = mapping.architecture
        /// A size from config.json: present (unless `fallback`), a whole number from 1 to 2^24.
        func int(_ key: String, or fallback: Int? = nil) throws -> Int {
            guard let value = config[key] as? Int ?? fallback else {
                throw CheckpointError("config.json", "'\(key)' is missing")
            }
            guard (1...(1 << 24)).contains(value) else {
                throw CheckpointError("config.json", "'\(key)' is \(value), not a size from 1 to \(1 << 24)")
            }
            return value
        }
        let heads = try int("num_attention_heads")
        let kvHeads = try int("num_key_value_heads", or: heads)
        let width = try int("hidden_size")
        let headDim = try int("head_dim", or: width / heads)
        guard heads % kvHeads == 0, headDim % 2 == 0 else {
            throw CheckpointError("config.json", "\(heads) heads of \(headDim) cannot share \(kvHeads) KV heads")
        }
        try refuseUnsupported(config, architecture: arch)
        writer.set("general.architecture", .string(arch))
        writer.set("general.name", .string(directory.lastPathComponent))
        writer.set("\(arch).block_count", .uint32(UInt32(try int("num_hidden_layers"))))
        writer.set("\(arch).context_length", .uint32(UInt32(try int("max_position_embeddings"))))
        writer.set("\(arch).embedding_length", .uint32(UInt32(width)))
        writer.set("\(arch).feed_forward_length", .uint32(UInt32(try int("intermediate_size"))))
        writer.set("\(arch).attention.head_count", .uint32(UInt32(heads)))
        writer.set("\(arch).attention.head_count_kv", .uint32(UInt32(kvHeads)))
        if headDim * heads != width {
            writer.set("\(arch).attention.key_length", .uint32(UInt32(headDim)))
            writer.set("\(arch).attention.value_length", .uint32(UInt32(headDim)))
        }
        let ropeTheta = config["rope_theta"] ?? (config["rope_parameters"] as? [String: Any])?["rope_theta"]
        let base = (ropeTheta as? NSNumber)?.doubleValue ?? 10_000
        writer.set("\(arch).rope.freq_base", .float32(Float(base)))
        try addScalingAndWindow(config, architecture: arch, headDim: headDim, base: base, into: &writer)
        guard let epsilon = (config["rms_norm_eps"] as? NSNumber)?.doubleValue else {
            throw CheckpointError("config.json", "'rms_norm_eps' is missing")
        }
        writer.set("\(arch).attention.layer_norm_rms_epsilon", .float32(Float(epsilon)))
        let vocabularySize = config["vocab_size"] == nil ? nil : try int("vocab_size")
        if let vocabularySize { writer.set("\(arch).vocab_size", .uint32(UInt32(vocabularySize))) }
        for (key, value) in try CheckpointTokenizer.metadata(directory: directory, vocabularySize: vocabularySize) {
            writer.set(key, value)
        }
        let ff = try int("intermediate_size")
        let (q, kv) = (heads * headDim, kvHeads * headDim)
        let shapes: [String: [Int]] = [
            "token_embd.weight": [vocabularySize ?? -1, width], "output.weight": [vocabularySize ?? -1, width],
            "output_norm.weight": [width], "attn_norm.weight": [width], "ffn_norm.weight": [width],
            "attn_q.weight": [q, width], "attn_k.weight": [kv, width], "attn_v.weight": [kv, width],
            "attn_q.bias": [q], "attn_k.bias": [kv], "attn_v.bias": [kv], "attn_qkv.weight": [q + 2 * kv, width],
            "attn_output.weight": [width, q], "attn_q_norm.weight": [headDim], "attn_k_norm.weight": [headDim],
            "ffn_gate.weight": [ff, width], "ffn_up.weight": [arch == "phi3" ? 2 * ff : ff, width],
            "ffn_down.weight": [width, ff], "post_attention_norm.weight": [width], "post_ffw_norm.weight": [width],
        ]
        try addTensors(
            directory,
            into: &writer,
            mapping: mapping,
            permute: mapping.permutesQK ? (heads, kvHeads, headDim) : nil,
            tied: config["tie_word_embeddings"] as? Bool ?? mapping.gemma,
            weightType: weightType
        ) { target in
            shapes[target.hasPrefix("blk.") ? String(target.split(separator: ".", maxSplits: 2)[2]) : target]
        }
        return try GGUFFile(bytes: writer.bytes())
    }

    static func readJSON(_ directory: URL, _ name: String) throws -> [String: Any] {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(name)) else {
            throw CheckpointError(name, "missing or unreadable in \(directory.path)")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CheckpointError(name, "not a JSON object")
        }
        return json
    }

    static func architecture(_ config: [String: Any]) throws -> Mapping {
        guard let names = config["architectures"] as? [String], let name = names.first else {
            throw CheckpointError("config.json", "'architectures' is missing")
        }
        guard let mapping = mappings[name] else {
            throw CheckpointError(
                "config.json",
                "architectures '\(name)' is not supported from a checkpoint; supported: "
                    + mappings.keys.sorted().joined(separator: ", ")
            )
        }
        return mapping
    }

    /// Refuses the config keys that change the arithmetic in ways the forward passes do not implement.
    static func refuseUnsupported(_ config: [String: Any], architecture arch: String) throws {
        func refuse(_ key: String, _ what: String) throws {
            throw CheckpointError("config.json", "'\(key)' asks for \(what), which Swerve does not implement")
        }
        let (actKey, expected) = arch == "gemma2" ? ("hidden_activation", "gelu_pytorch_tanh") : ("hidden_act", "silu")
        let act = config[actKey] as? String ?? config["hidden_act"] as? String ?? expected
        if act != expected { try refuse(actKey, "the '\(act)' activation") }
        if (config["partial_rotary_factor"] as? NSNumber)?.doubleValue ?? 1 != 1 {
            try refuse("partial_rotary_factor", "RoPE on part of each head")
        }
        if config["mlp_bias"] as? Bool == true { try refuse("mlp_bias", "biases on the feed-forward matrices") }
        if arch != "qwen2", config["attention_bias"] as? Bool == true {
            try refuse("attention_bias", "biases on the attention matrices")
        }
        if config["use_sliding_window"] as? Bool == true {
            try refuse("use_sliding_window", "sliding-window attention on some layers (max_window_layers)")
        }
    }

    /// Every tensor of the checkpoint's safetensors files, renamed, reordered where RoPE's layout differs,
    /// matrices quantized.
    static func addTensors(
        _ directory: URL,
        into writer: inout GGUFWriter,
        mapping: Mapping,
        permute: (heads: Int, kvHeads: Int, headDim: Int)?,
        tied: Bool,
        weightType: GGMLType,
        expectedShape: (String) -> [Int]?
    ) throws {
        let files = try shardNames(directory).map {
            try SafetensorsFile(path: directory.appendingPathComponent($0).path)
        }
        var seen = Set<String>()
        for file in files {
            for name in file.tensors.keys.sorted() {
                let fileName = (file.path as NSString).lastPathComponent
                guard let target = try ggufName(name, fileName, gemma: mapping.gemma) else { continue }
                if target == "output.weight" && tied { continue }
                guard seen.insert(target).inserted else {
                    throw CheckpointError(fileName, "tensor '\(name)' appears twice in the checkpoint")
                }
                let tensor = file.tensors[name]!
                if let expected = expectedShape(target),
                    zip(expected, tensor.shape).contains(where: { $0 >= 0 && $0 != $1 })
                        || expected.count != tensor.shape.count
                {
                    throw CheckpointError(
                        fileName,
                        "tensor '\(name)' has shape \(tensor.shape); config.json gives \(expected)"
                    )
                }
                var values = file.floats(name)
                if let permute, target.hasSuffix("attn_q.weight") || target.hasSuffix("attn_k.weight") {
                    let heads = target.hasSuffix("attn_q.weight") ? permute.heads : permute.kvHeads
                    values = reorderRoPERows(
                        values,
                        heads: heads,
                        headDim: permute.headDim,
                        columns: tensor.shape.last ?? 1
                    )
                }
                switch tensor.shape.count {
                case 1:
                    if mapping.gemma && target.hasSuffix("norm.weight") { values = values.map { $0 + 1 } }
                    writer.addTensor(target, shape: tensor.shape, floats: values)
                case 2:
                    let (rows, columns) = (tensor.shape[0], tensor.shape[1])
                    guard columns % weightType.blockSize == 0 else {
                        throw CheckpointError(
                            fileName,
                            "tensor '\(name)' has rows of \(columns), not whole blocks of \(weightType.blockSize) for \(weightType)"
                        )
                    }
                    var data: [UInt8] = []
                    data.reserveCapacity(weightType.rowBytes(columns)! * rows)
                    values.withUnsafeBufferPointer { all in
                        for r in 0..<rows {
                            Quantizer.append(
                                UnsafeBufferPointer(rebasing: all[(r * columns)..<((r + 1) * columns)]),
                                as: weightType,
                                to: &data
                            )
                        }
                    }
                    writer.addTensor(target, type: weightType, shape: [columns, rows], data: data)
                default:
                    throw CheckpointError(fileName, "tensor '\(name)' has \(tensor.shape.count) dimensions")
                }
            }
        }
    }

    /// The safetensors files: those `model.safetensors.index.json` lists, else `model.safetensors`.
    static func shardNames(_ directory: URL) throws -> [String] {
        let index = "model.safetensors.index.json"
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent(index).path) {
            guard let map = try readJSON(directory, index)["weight_map"] as? [String: String] else {
                throw CheckpointError(index, "'weight_map' is missing")
            }
            let shards = Set(map.values).sorted()
            for shard in shards
            where !FileManager.default.fileExists(atPath: directory.appendingPathComponent(shard).path) {
                throw CheckpointError(shard, "missing: \(index) lists it")
            }
            return shards
        }
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("model.safetensors").path) else {
            throw CheckpointError("model.safetensors", "missing (and no \(index)) in \(directory.path)")
        }
        return ["model.safetensors"]
    }

    /// llama.cpp's name for a Hugging Face tensor; nil for tensors llama.cpp drops (rotary caches).
    static func ggufName(_ name: String, _ file: String, gemma: Bool = false) throws -> String? {
        switch name {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        if name.hasSuffix("rotary_emb.inv_freq") { return nil }
        let parts = name.split(separator: ".", maxSplits: 3).map(String.init)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]),
            let suffix = (gemma ? gemmaLayerNames[parts[3]] : nil) ?? layerNames[parts[3]]
        else {
            throw CheckpointError(file, "tensor '\(name)' is not one Swerve knows where to put")
        }
        return "blk.\(layer).\(suffix)"
    }

    /// Llama's q/k rows from Hugging Face's layout (each head's first half of rotary pairs, then the
    /// second) to GGUF's (pairs adjacent): row h·D + 2i + s takes row h·D + s·D/2 + i.
    static func reorderRoPERows(_ values: [Float], heads: Int, headDim: Int, columns: Int) -> [Float] {
        var out = values
        let half = headDim / 2
        for h in 0..<heads {
            for i in 0..<half {
                for s in 0..<2 {
                    let (to, from) = (h * headDim + 2 * i + s, h * headDim + s * half + i)
                    for c in 0..<columns { out[to * columns + c] = values[from * columns + c] }
                }
            }
        }
        return out
    }
}
