/// Why a model could not be found or fetched, worded for the person who typed the command.
public enum ModelStoreError: Error, Equatable, CustomStringConvertible {
    case unknownModel(String)
    case invalidHubURL(String)
    case toolMissing(String)
    case fetchFailed(String)
    case checksumMismatch(file: String, expected: String, actual: String)
    case notGGUF(String)

    public var description: String {
        switch self {
        case .unknownModel(let spec):
            "unknown model '\(spec)': not a built-in name (\(BuiltinModel.all.map(\.name).joined(separator: ", "))), "
                + "not an existing file, and not an hf://owner/repo/file.gguf address"
        case .invalidHubURL(let url): "'\(url)' is not of the form hf://owner/repo/path/file.gguf"
        case .toolMissing(let message): message
        case .fetchFailed(let message): message
        case .checksumMismatch(let file, let expected, let actual):
            "\(file) has SHA-256 \(actual), expected \(expected); the download was removed, try again"
        case .notGGUF(let file): "\(file) is not a GGUF file (it does not start with 'GGUF')"
        }
    }
}
