import Tokenizers

/// Turns what a client sends into prompt token ids: a conversation rendered through the model's chat
/// template (whose text carries its own BOS), or plain text with BOS as the model's metadata asks. Shared by
/// `swerve generate`, the server and the tests, so every path builds the same prompt llama.cpp would.
public struct PromptEncoder: Sendable {
    public let tokenizer: any Tokenizer
    /// nil when the model has no chat template: chat requests are refused.
    public let chatTemplate: ChatTemplate?

    public init(tokenizer: any Tokenizer, chatTemplate: ChatTemplate?) {
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
    }

    /// The text the chat template makes of `messages` (a list of `{role, content}` objects).
    public func renderChat(_ messages: JinjaValue, addGenerationPrompt: Bool = true) throws -> String {
        guard let chatTemplate else { throw ModelError.missing("chat template (tokenizer.chat_template)") }
        func text(_ id: Int?) -> String { id.map { tokenizer.tokens[$0] } ?? "" }
        return try chatTemplate.render(
            messages: messages,
            addGenerationPrompt: addGenerationPrompt,
            bosToken: text(tokenizer.specialIDs.bos),
            eosToken: text(tokenizer.specialIDs.eos)
        )
    }

    /// Token ids of a conversation; BOS is added only when the model wants one and the template did not
    /// already write it.
    public func chat(_ messages: JinjaValue, addGenerationPrompt: Bool = true) throws -> [Int32] {
        let text = try renderChat(messages, addGenerationPrompt: addGenerationPrompt)
        let bosText = tokenizer.specialIDs.bos.map { tokenizer.tokens[$0] }
        let addBOS = tokenizer.specialIDs.addBOS && !(bosText.map { text.hasPrefix($0) } ?? false)
        return tokenizer.encode(text, addBOS: addBOS).map(Int32.init)
    }

    /// Token ids of plain text, with BOS if `addSpecialTokens` and the model asks for one.
    public func text(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
        tokenizer.encode(text, addBOS: addSpecialTokens && tokenizer.specialIDs.addBOS).map(Int32.init)
    }
}
