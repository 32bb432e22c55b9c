/// Why a Hugging Face checkpoint directory cannot be loaded: each names the file and, where there is one,
/// the key or tensor.
public struct CheckpointError: Error, Equatable, CustomStringConvertible {
    public let file: String
    public let message: String

    public init(_ file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
