/// Why a tokenizer or chat template could not be built from a model file.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case unsupportedModel(String)
    case unsupportedPreTokenizer(String)
    case missingMetadata(String)
    case inconsistent(String)

    public var description: String {
        switch self {
        case .unsupportedModel(let model):
            "tokenizer model '\(model)' (tokenizer.ggml.model) is not supported; supported: gpt2 (byte-level BPE), "
                + "llama (SentencePiece)"
        case .unsupportedPreTokenizer(let pre):
            "pre-tokenizer '\(pre)' is not supported; supported: "
                + PreTokenizer.allCases.map(\.rawValue).joined(separator: ", ")
        case .missingMetadata(let key): "the model file has no '\(key)'"
        case .inconsistent(let what): "inconsistent vocabulary: \(what)"
        }
    }
}
