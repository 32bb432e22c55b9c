import Foundation
import GGUF
import Tokenizers

/// A checkpoint's `tokenizer.json` (and `tokenizer_config.json`) as the GGUF tokenizer metadata llama.cpp's
/// converter writes: vocabulary, token types, merges, the pre-tokenizer named by its rules, special token
/// ids, `add_bos_token` and the chat template. Byte-level BPE only; anything else (SentencePiece-style BPE
/// with byte fallback, WordPiece, Unigram, a pre-tokenizer regex Swerve has no matcher for) is refused
/// naming what the file asks for.
enum CheckpointTokenizer {
    /// Pre-tokenizer regexes of `tokenizer.json` `Split` steps, as the GGUF pre-type whose matcher they are.
    static let splitPatterns: [String: String] = [
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            "llama-bpe",
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            "qwen2",
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#: "gpt-2",
    ]

    static func metadata(directory: URL, vocabularySize: Int?) throws -> [(String, GGUFValue)] {
        let file = "tokenizer.json"
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(file)) else {
            throw CheckpointError(file, "missing: a checkpoint needs its tokenizer.json")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let model = json["model"] as? [String: Any]
        else {
            throw CheckpointError(file, "not a tokenizer.json object with a 'model'")
        }
        guard model["type"] as? String == "BPE" else {
            throw CheckpointError(file, "model.type '\(model["type"] ?? "none")' is not supported; byte-level BPE is")
        }
        if model["byte_fallback"] as? Bool == true {
            throw CheckpointError(
                file,
                "model.byte_fallback (SentencePiece-style BPE) is not supported; byte-level BPE is"
            )
        }
        if let normalizer = json["normalizer"] as? [String: Any], normalizer["type"] as? String != "NFC" {
            throw CheckpointError(file, "normalizer '\(normalizer["type"] ?? "?")' is not supported")
        }
        let pre = try preTokenizer(json["pre_tokenizer"], file)
        guard let vocab = model["vocab"] as? [String: Int] else {
            throw CheckpointError(file, "model.vocab is missing")
        }
        let merges: [String] = try (model["merges"] as? [Any] ?? []).map { merge in
            if let line = merge as? String { return line }
            if let pair = merge as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            throw CheckpointError(file, "model.merges holds '\(merge)', neither \"a b\" nor [a, b]")
        }
        var byID: [Int: (String, Int32)] = [:]
        for (token, id) in vocab { byID[id] = (token, 1) }
        for case let added as [String: Any] in json["added_tokens"] as? [Any] ?? [] {
            guard let id = added["id"] as? Int, let content = added["content"] as? String else { continue }
            byID[id] = (content, added["special"] as? Bool == true ? 3 : 4)
        }
        let count = max(vocabularySize ?? 0, (byID.keys.max() ?? -1) + 1)
        guard byID.keys.allSatisfy({ $0 >= 0 }), count <= 1 << 24 else {
            throw CheckpointError(file, "token ids outside 0..<\(1 << 24)")
        }
        var tokens: [GGUFValue] = []
        var types: [GGUFValue] = []
        for id in 0..<count {
            let (token, type) = byID[id] ?? ("[PAD\(id)]", 5)
            tokens.append(.string(token))
            types.append(.int32(type))
        }
        var metadata: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .array(.string, tokens)), ("tokenizer.ggml.token_type", .array(.int32, types)),
            ("tokenizer.ggml.merges", .array(.string, merges.map { .string($0) })),
        ]
        let config =
            (try? Data(contentsOf: directory.appendingPathComponent("tokenizer_config.json")))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        func id(of field: String) -> Int? {
            let value = config[field]
            let text = value as? String ?? (value as? [String: Any])?["content"] as? String
            return text.flatMap { token in byID.first { $0.value.0 == token }?.key }
        }
        for (field, key) in [
            ("bos_token", "bos"), ("eos_token", "eos"), ("unk_token", "unknown"), ("pad_token", "padding"),
        ] {
            if let id = id(of: field) { metadata.append(("tokenizer.ggml.\(key)_token_id", .uint32(UInt32(id)))) }
        }
        metadata.append(("tokenizer.ggml.add_bos_token", .bool(config["add_bos_token"] as? Bool ?? false)))
        if let template = config["chat_template"] as? String {
            metadata.append(("tokenizer.chat_template", .string(template)))
        }
        return metadata
    }

    /// The GGUF pre-type of a `tokenizer.json` pre-tokenizer: GPT-2's byte-level split, SmolLM's digits
    /// then GPT-2, or a `Split` regex a matcher implements, before a byte-level step that does not split.
    static func preTokenizer(_ value: Any?, _ file: String) throws -> String {
        guard let pre = value as? [String: Any], let type = pre["type"] as? String else {
            throw CheckpointError(file, "pre_tokenizer is missing; byte-level BPE needs one")
        }
        if type == "ByteLevel", pre["use_regex"] as? Bool ?? true { return "gpt-2" }
        let steps = pre["pretokenizers"] as? [[String: Any]] ?? []
        if type == "Sequence", steps.count == 2, steps[1]["type"] as? String == "ByteLevel" {
            let first = steps[0]
            if first["type"] as? String == "Digits", first["individual_digits"] as? Bool == true,
                steps[1]["use_regex"] as? Bool ?? true
            {
                return "smollm"
            }
            if first["type"] as? String == "Split", steps[1]["use_regex"] as? Bool == false,
                let pattern = (first["pattern"] as? [String: Any])?["Regex"] as? String
            {
                guard let name = splitPatterns[pattern] else {
                    throw CheckpointError(file, "pre_tokenizer regex \(pattern) has no matcher in Swerve")
                }
                return name
            }
        }
        throw CheckpointError(file, "pre_tokenizer '\(type)' with these steps is not one Swerve implements")
    }
}
