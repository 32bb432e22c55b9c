import GGUF
import SwerveCore
import Tokenizers

/// A model file opened for use: the mapped GGUF, its architecture's configuration, its tokenizer and its
/// chat template, each checked once here so a model that cannot be served fails when it loads.
public final class ModelFile: Sendable {
    public let path: String
    public let gguf: GGUFFile
    public let config: ModelConfig
    public let tokenizer: any Tokenizer
    /// nil when the file has no `tokenizer.chat_template`.
    public let chatTemplate: ChatTemplate?
    /// How prompts for this model become token ids.
    public let prompts: PromptEncoder

    /// Opens a GGUF file, or a Hugging Face checkpoint directory converted in memory (`Checkpoint`) with its
    /// matrices as `weights` says.
    public init(path: String, weights: WeightFormat = WeightFormat()) throws {
        self.path = path
        gguf = try Self.open(path, weights: weights)
        config = try ModelRegistry.config(of: gguf)
        prompts = try PromptEncoder(gguf: gguf)
        tokenizer = prompts.tokenizer
        chatTemplate = prompts.chatTemplate
    }

    /// The GGUF file at `path`, or the checkpoint directory at `path` as one (matrices as `weights` says).
    public static func open(_ path: String, weights: WeightFormat = WeightFormat()) throws -> GGUFFile {
        Checkpoint.isCheckpoint(path)
            ? try Checkpoint.gguf(directory: path, weights: weights) : try GGUFFile(path: path)
    }

    /// Renders a conversation through the model's template, with the model's BOS and EOS token texts.
    public func renderChat(_ messages: JinjaValue, addGenerationPrompt: Bool = true) throws -> String {
        try prompts.renderChat(messages, addGenerationPrompt: addGenerationPrompt)
    }
}
