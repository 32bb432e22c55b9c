import GGUF
import Tokenizers

/// Turns what a client sends into prompt token ids: a conversation rendered through the model's chat
/// template (whose text carries its own BOS), or plain text with BOS as the model's metadata asks. Shared by
/// `swerve generate`, the server and the tests, so every path builds the same prompt llama.cpp would.
public struct PromptEncoder: Sendable {
    public let tokenizer: any Tokenizer
    /// nil when the model has no chat template: chat requests are refused.
    public let chatTemplate: ChatTemplate?

    /// Bytes of the vocabulary's longest token (at least 1): no token stands for more.
    public let longestTokenBytes: Int
    /// For each byte value, whether the vocabulary has a token of that byte alone: such a byte always ends up
    /// in some output token, while one without (SmolLM2 has none for 0x04 or 0xF1) may be dropped.
    let kept: [Bool]

    /// The tokenizer and chat template of a GGUF file's metadata alone, as llama.cpp's `vocab_only`: no
    /// weights or architecture are needed, so llama.cpp's vocabulary-only test files load too.
    public init(gguf: GGUFFile) throws {
        let tokenizer = try makeTokenizer(gguf: gguf)
        let template = try gguf["tokenizer.chat_template"]?.string.map { source throws(ChatTemplateError) in
            try ChatTemplate(source)
        }
        self.init(tokenizer: tokenizer, chatTemplate: template)
    }

    public init(tokenizer: any Tokenizer, chatTemplate: ChatTemplate?) {
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        var longest = 1
        var kept = [Bool](repeating: false, count: 256)
        for id in 0..<tokenizer.vocabularySize {
            let bytes = tokenizer.bytes(of: id, renderSpecial: true)
            longest = max(longest, bytes.count)
            if bytes.count == 1 { kept[Int(bytes[0])] = true }
        }
        longestTokenBytes = longest
        self.kept = kept
    }

    /// A lower bound on the tokens of `text` from its bytes alone (those that cannot be dropped, over the
    /// longest token's length), so a prompt too long for the context is refused without tokenizing
    /// megabytes first.
    public func fewestTokens(_ text: String) -> Int {
        var count = 0
        if kept.allSatisfy({ $0 }) {
            count = text.utf8.count
        } else {
            for byte in text.utf8 where kept[Int(byte)] { count += 1 }
        }
        return (count + longestTokenBytes - 1) / longestTokenBytes
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
        chatTokens(try renderChat(messages, addGenerationPrompt: addGenerationPrompt))
    }

    /// Token ids of a conversation `renderChat` rendered.
    public func chatTokens(_ text: String) -> [Int32] {
        let bosText = tokenizer.specialIDs.bos.map { tokenizer.tokens[$0] }
        let addBOS = tokenizer.specialIDs.addBOS && !(bosText.map { text.hasPrefix($0) } ?? false)
        return tokenizer.encode(text, addBOS: addBOS).map(Int32.init)
    }

    /// Token ids of plain text, with BOS if `addSpecialTokens` and the model asks for one.
    public func text(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
        tokenizer.encode(text, addBOS: addSpecialTokens && tokenizer.specialIDs.addBOS).map(Int32.init)
    }
}
