import GGUF
import Models
import Tokenizers

/// The human-readable description `swerve inspect` prints.
struct ModelReport {
    let gguf: GGUFFile
    let path: String

    init(path: String) throws {
        self.path = path
        gguf = try ModelFile.open(path)
    }

    func text(listTensors: Bool) -> String {
        var lines: [String] = []
        lines.append("file:          \(path)")
        lines.append(
            "format:        GGUF v\(gguf.version), \(gguf.metadata.count) metadata keys, \(gguf.tensors.count) tensors, alignment \(gguf.alignment)"
        )
        lines.append("name:          \(gguf["general.name"]?.string ?? "-")")
        lines.append("architecture:  \(gguf.architecture ?? "-")")
        do {
            let c = try ModelRegistry.config(of: gguf)
            lines.append("layers:        \(c.blockCount)")
            lines.append("width:         \(c.embeddingLength), FFN \(c.feedForwardLength)")
            lines.append(
                "attention:     \(c.headCount) query heads, \(c.headCountKV) KV heads of \(c.headDimension)\(c.slidingWindow.map { ", sliding window \($0)" } ?? "")"
            )
            lines.append(
                "context:       \(c.contextLength) tokens, RoPE base \(c.ropeFrequencyBase), RMS eps \(c.rmsNormEpsilon)"
            )
            lines.append(
                "vocabulary:    \(c.vocabularySize)\(c.tiedEmbedding ? " (output tied to the embedding)" : "")"
            )
        } catch {
            lines.append("config:        not loadable: \(error)")
        }
        let parameters = ModelConfig.parameterCount(gguf)
        let bytes = gguf.tensors.reduce(0) { $0 + $1.byteCount }
        lines.append("parameters:    \(parameters) (\(bytes / 1_000_000) MB of tensor data)")
        var byType: [String: (count: Int, parameters: Int)] = [:]
        for t in gguf.tensors {
            byType[t.type.description, default: (0, 0)].count += 1
            byType[t.type.description]!.parameters += t.elementCount
        }
        let types = byType.sorted { $0.value.parameters > $1.value.parameters }
            .map { "\($0.key) ×\($0.value.count) (\($0.value.parameters * 100 / max(parameters, 1))%)" }
        lines.append("tensor types:  \(types.joined(separator: ", "))")
        let model = gguf["tokenizer.ggml.model"]?.string ?? "-"
        let pre = gguf["tokenizer.ggml.pre"]?.string ?? "-"
        do {
            let t = try makeTokenizer(gguf: gguf)
            let ids = t.specialIDs
            func show(_ id: Int?) -> String { id.map { "\($0) \(t.tokens[$0].debugDescription)" } ?? "-" }
            lines.append(
                "tokenizer:     \(model) (pre \(pre)), \(t.vocabularySize) tokens, BOS \(show(ids.bos)), EOS \(show(ids.eos)), add BOS \(ids.addBOS)"
            )
        } catch {
            lines.append("tokenizer:     \(model) (pre \(pre)): \(error)")
        }
        if let source = gguf["tokenizer.chat_template"]?.string {
            do {
                _ = try ChatTemplate(source)
                lines.append("chat template: \(source.count) characters, renders")
            } catch {
                lines.append("chat template: \(error)")
            }
        } else {
            lines.append("chat template: none")
        }
        lines.append("metadata:")
        for key in gguf.metadataKeys
        where !key.hasPrefix("tokenizer.ggml.") || ["tokenizer.ggml.model", "tokenizer.ggml.pre"].contains(key) {
            if key == "tokenizer.chat_template" { continue }
            lines.append("  \(key) = \(Self.describe(gguf.metadata[key]!))")
        }
        for key in gguf.metadataKeys
        where key.hasPrefix("tokenizer.ggml.") && !["tokenizer.ggml.model", "tokenizer.ggml.pre"].contains(key) {
            lines.append("  \(key) = \(Self.describe(gguf.metadata[key]!))")
        }
        if listTensors {
            lines.append("tensors:")
            for t in gguf.tensors { lines.append("  \(t.name) \(t.type) \(t.shape)") }
        }
        return lines.joined(separator: "\n")
    }

    static func describe(_ value: GGUFValue) -> String {
        switch value {
        case .string(let s): return s.count > 80 ? String(s.prefix(77)).debugDescription + "…" : s.debugDescription
        case .array(let type, let values):
            let head = values.prefix(4).map(describe).joined(separator: ", ")
            return "[\(type) × \(values.count)]" + (values.isEmpty ? "" : " [\(head)\(values.count > 4 ? ", …" : "")]")
        default:
            if let int = value.int { return String(int) }
            if let double = value.double { return String(double) }
            return String(value.bool ?? false)
        }
    }
}
