import Foundation

/// Why a model could not be found or fetched, worded for the person who typed the command.
public enum ModelStoreError: Error, Equatable, CustomStringConvertible {
    case unknownModel(String)
    case invalidHubURL(String)
    case toolMissing(String)
    case fetchFailed(String)
    case checksumMismatch(file: String, expected: String, actual: String)
    case notGGUF(String)
    /// Writing a download failed (a full disk): nothing was installed.
    case writeFailed(path: String, reason: String, needed: Int?)

    public var description: String {
        switch self {
        case .unknownModel(let spec):
            "unknown model '\(spec)': not a built-in name (\(BuiltinModel.all.map(\.name).joined(separator: ", "))), "
                + "not an existing file or checkpoint directory (config.json inside), and not an hf://owner/repo/file.gguf "
                + "or hf://owner/repo address"
        case .invalidHubURL(let url): "'\(url)' is not of the form hf://owner/repo/path/file.gguf or hf://owner/repo"
        case .toolMissing(let message): message
        case .fetchFailed(let message): message
        case .checksumMismatch(let file, let expected, let actual):
            "\(file) has SHA-256 \(actual), expected \(expected); the download was removed, try again"
        case .notGGUF(let file): "\(file) is not a GGUF file (it does not start with 'GGUF')"
        case .writeFailed(let path, let reason, let needed):
            "could not write \(path): \(reason)"
                + (needed.map { "; the model needs \(ProgressReporter.megabytes($0)) free" } ?? "")
                + ". Nothing was installed: free some space (or set SWERVE_HOME elsewhere) and pull again"
        }
    }
}

extension ModelStoreError {
    /// A failed write of `path` as the person can act on it: the system's reason ("No space left on
    /// device"), not Foundation's error domain and code.
    static func writing(_ path: String, _ error: any Error, needed: Int?) -> ModelStoreError {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        let reason =
            underlying.map { $0.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32($0.code))) : "\($0)" }
            ?? "\(error)"
        return .writeFailed(path: path, reason: reason, needed: needed)
    }
}
