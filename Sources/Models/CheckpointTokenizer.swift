import Foundation
import GGUF
import SwerveCore
import Tokenizers

/// A checkpoint's `tokenizer.json` (and `tokenizer_config.json`) as GGUF tokenizer metadata: vocabulary,
/// token types, special token ids, `add_bos_token` and the chat template, and
/// - for byte-level BPE, as llama.cpp's converter writes it: the merges and the pre-tokenizer named by its
///   rules;
/// - for SentencePiece-style BPE (byte fallback, spaces turned into U+2581 with one prepended, by the
///   normalizer as Llama 2, Mistral v0.1 and TinyLlama write it or by a Metaspace pre-tokenizer as newer
///   conversions do), a SentencePiece vocabulary whose scores order the merges: a piece scores minus the rank of
///   the first merge that makes it, so the SentencePiece tokenizer, which merges the adjacent pair whose
///   piece scores highest, merges as BPE does (llama.cpp's own converter gives every piece -1000 instead).
/// Anything else (WordPiece, Unigram, another normalizer, a Metaspace pre-tokenizer that splits words, a
/// pre-tokenizer regex Swerve has no matcher for) is refused naming what the file asks for.
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
        let sentencePiece = model["byte_fallback"] as? Bool == true
        let pre: String
        var spacePrefix = SentencePieceTokenizer.SpacePrefix.none
        if sentencePiece {
            spacePrefix = try sentencePieceSpaces(json, file)
            pre = "default"
        } else {
            if let normalizer = json["normalizer"] as? [String: Any], normalizer["type"] as? String != "NFC" {
                throw CheckpointError(file, "normalizer '\(normalizer["type"] ?? "?")' is not supported")
            }
            pre = try preTokenizer(json["pre_tokenizer"], file)
        }
        // Read as a list of members (SwerveCore's JSONValue), not a dictionary keyed by String: Swift's String
        // keys compare by canonical equivalence, so two pieces that differ only in Unicode normalization
        // (Greek U+03AC and U+1F71) would collide, in Foundation's dictionaries too.
        guard let members = (try? JSONValue.parse(bytes: Array(data)))?["model"]?["vocab"]?.object else {
            throw CheckpointError(file, "model.vocab is missing")
        }
        var vocab: [(String, Int)] = []
        for (token, value) in members {
            guard let id = value.integer else {
                throw CheckpointError(file, "model.vocab gives '\(token)' the id \(value), not a whole number")
            }
            vocab.append((token, id))
        }
        let merges: [String] = try (model["merges"] as? [Any] ?? []).map { merge in
            if let line = merge as? String { return line }
            if let pair = merge as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            throw CheckpointError(file, "model.merges holds '\(merge)', neither \"a b\" nor [a, b]")
        }
        var byID: [Int: (String, Int32)] = [:]
        for (token, id) in vocab { byID[id] = (token, sentencePiece && isByteToken(token) ? 6 : 1) }
        if sentencePiece, let unknown = model["unk_token"] as? String,
            let id = vocab.first(where: { Array($0.0.utf8) == Array(unknown.utf8) })?.1
        {
            byID[id] = (unknown, 2)
        }
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
            ("tokenizer.ggml.model", .string(sentencePiece ? "llama" : "gpt2")), ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .array(.string, tokens)), ("tokenizer.ggml.token_type", .array(.int32, types)),
        ]
        if sentencePiece {
            // A piece scores minus the rank of the first merge making it; pieces no merge makes score lowest.
            var rank: [[UInt8]: Int] = [:]  // by bytes, for the reason above
            for (index, merge) in merges.enumerated() {
                let bytes = Array(merge.utf8)
                guard let space = bytes.firstIndex(of: 0x20) else {
                    throw CheckpointError(file, "model.merges holds '\(merge)'")
                }
                let piece = Array(bytes[..<space] + bytes[(space + 1)...])
                if rank[piece] == nil { rank[piece] = index }
            }
            let lowest = -Float(merges.count + 1)
            let scores: [GGUFValue] = (0..<count).map { id in
                .float32(byID[id].flatMap { rank[Array($0.0.utf8)] }.map { -Float($0) } ?? lowest)
            }
            metadata.append(("tokenizer.ggml.scores", .array(.float32, scores)))
            metadata.append(("tokenizer.ggml.add_space_prefix", .bool(spacePrefix != .none)))
            if spacePrefix == .metaspaceFirst || spacePrefix == .metaspaceAlways {
                metadata.append((SentencePieceTokenizer.metaspaceKey, .string(spacePrefix.rawValue)))
            }
        } else {
            metadata.append(("tokenizer.ggml.merges", .array(.string, merges.map { .string($0) })))
        }
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

    /// `<0xXX>`: a byte piece of SentencePiece's byte fallback.
    static func isByteToken(_ token: String) -> Bool {
        let u = Array(token.utf8)
        return u.count == 6 && token.hasPrefix("<0x") && token.hasSuffix(">")
            && UInt8(token.dropFirst(3).prefix(2), radix: 16) != nil
    }

    /// Where a SentencePiece-style tokenizer.json puts a leading space (U+2581): spaces must become U+2581
    /// either in its normalizer (Llama 2's: Prepend "▁", Replace " " with "▁": SentencePiece's own rule) or
    /// in a Metaspace pre-tokenizer that does not split the text into words (newer conversions: its
    /// `prepend_scheme` first or always adds the space only where the text does not start with one);
    /// anything else is refused.
    static func sentencePieceSpaces(_ json: [String: Any], _ file: String) throws -> SentencePieceTokenizer.SpacePrefix
    {
        let space = "\u{2581}"
        let needs = "a byte-fallback tokenizer needs Llama 2's normalizer or a Metaspace pre-tokenizer with split false"
        if let pre = json["pre_tokenizer"] as? [String: Any] {
            guard pre["type"] as? String == "Metaspace", pre["replacement"] as? String ?? space == space,
                pre["split"] as? Bool == false, json["normalizer"] == nil || json["normalizer"] is NSNull
            else {
                throw CheckpointError(file, needs + "; pre_tokenizer '\(pre["type"] ?? "?")' is not one")
            }
            let scheme =
                pre["prepend_scheme"] as? String ?? (pre["add_prefix_space"] as? Bool == false ? "never" : "always")
            if scheme == "never" { return .none }
            guard let prefix = SentencePieceTokenizer.SpacePrefix(rawValue: scheme) else {
                throw CheckpointError(file, "Metaspace prepend_scheme '\(scheme)' is not first, always or never")
            }
            return prefix
        }
        guard let normalizer = json["normalizer"] as? [String: Any] else { throw CheckpointError(file, needs) }
        let steps =
            normalizer["type"] as? String == "Sequence"
            ? normalizer["normalizers"] as? [[String: Any]] ?? [] : [normalizer]
        var (prepends, replaces) = (false, false)
        for step in steps {
            switch step["type"] as? String {
            case "Prepend" where step["prepend"] as? String == space: prepends = true
            case "Replace"
            where (step["pattern"] as? [String: Any])?["String"] as? String == " "
                && step["content"] as? String == space:
                replaces = true
            default:
                throw CheckpointError(
                    file,
                    "normalizer step '\(step["type"] ?? "?")' is not supported with byte fallback"
                )
            }
        }
        guard replaces else { throw CheckpointError(file, needs) }
        return prepends ? .sentencePiece : .none
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
