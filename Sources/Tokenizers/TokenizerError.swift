/// Why a tokenizer or chat template could not be built from a model file.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case unsupportedModel(String)
    case unsupportedPreTokenizer(String)
    case missingMetadata(String)
    case inconsistent(String)

    public var description: String {
        switch self {
        case .unsupportedModel(let model):
            "tokenizer model '\(model)' is not supported yet (byte-level BPE, 'gpt2', is)"
        case .unsupportedPreTokenizer(let pre):
            "pre-tokenizer '\(pre)' is not supported; supported: "
                + PreTokenizer.allCases.map(\.rawValue).joined(separator: ", ")
        case .missingMetadata(let key): "the model file has no '\(key)'"
        case .inconsistent(let what): "inconsistent vocabulary: \(what)"
        }
    }
}
