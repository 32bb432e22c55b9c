import Engine
import OpenAIAPI
import Tokenizers

/// One choice's outputs gathered for a non-streamed response: text, tokens, log-probabilities and how it
/// ended.
struct ChoiceAccumulator: Sendable {
    var text = ""
    var logprobs: [TokenLogprobs] = []
    var finishReason: FinishReason?
    var stopReason: StopReason?
    var usage: Usage?
    var classifications: [Classification] = []

    mutating func add(_ output: RequestOutput) {
        text += output.text
        classifications += output.classifications
        logprobs += output.logprobs
        if let reason = output.finishReason { finishReason = reason }
        if let reason = output.stopReason { stopReason = reason }
        if let usage = output.usage { self.usage = usage }
    }

    /// The request's `usage`: each prompt counted once (its `n` choices share it), completions summed.
    static func usage(_ choices: [ChoiceAccumulator], n: Int) -> UsageInfo {
        usage(choices.map(\.usage), n: n)
    }

    static func usage(_ usages: [Usage?], n: Int) -> UsageInfo {
        var prompt = 0
        var cached = 0
        var completion = 0
        for (i, usage) in usages.enumerated() {
            guard let usage else { continue }
            if i % n == 0 {
                prompt += usage.promptTokens
                cached += usage.cachedPromptTokens
            }
            completion += usage.completionTokens
        }
        return UsageInfo(prompt_tokens: prompt, completion_tokens: completion, cached_tokens: cached)
    }
}

extension ClassificationInfo {
    init(_ c: Classification) {
        self.init(
            alternatives: zip(c.alternatives, c.logprobs).map { Alternative(text: $0, logprob: Double($1)) },
            chosen: c.alternatives[c.chosen]
        )
    }

    /// The wire form of `list`, nil when empty (the field is then left out).
    static func list(_ list: [Classification]) -> [ClassificationInfo]? {
        list.isEmpty ? nil : list.map(ClassificationInfo.init)
    }
}

extension StopReasonValue {
    init?(_ reason: StopReason?) {
        switch reason {
        case .string(let text): self = .string(text)
        case .token(let id): self = .token(Int(id))
        case nil: return nil
        }
    }
}

/// Turns the engine's token log-probabilities into OpenAI's two formats.
struct LogprobsFormatter: Sendable {
    let tokenizer: any Tokenizer

    func bytes(_ id: Int32) -> [UInt8] { tokenizer.bytes(of: Int(id), renderSpecial: true) }

    func text(_ id: Int32) -> String { String(decoding: bytes(id), as: UTF8.self) }

    /// Chat: `{content: [{token, logprob, bytes, top_logprobs}]}`.
    func chat(_ logprobs: [TokenLogprobs]) -> ChatLogprobs {
        func entry(_ token: Int32, _ logprob: Float) -> ChatLogprobs.TokenLogprob {
            ChatLogprobs.TokenLogprob(token: text(token), logprob: Double(logprob), bytes: bytes(token).map(Int.init))
        }
        return ChatLogprobs(
            content: logprobs.map { step in
                var chosen = entry(step.token, step.logprob)
                chosen.top_logprobs = step.top.map { entry($0.token, $0.logprob) }
                return chosen
            }
        )
    }

    /// Completions: parallel `tokens`, `token_logprobs`, `top_logprobs`, `text_offset` (from `offset`).
    func completion(_ logprobs: [TokenLogprobs], offset: Int) -> CompletionLogprobs {
        var offsets: [Int] = []
        var position = offset
        for step in logprobs {
            offsets.append(position)
            position += text(step.token).count
        }
        return CompletionLogprobs(
            tokens: logprobs.map { text($0.token) },
            token_logprobs: logprobs.map { Double($0.logprob) },
            top_logprobs: logprobs.map { step in
                Dictionary(step.top.map { (text($0.token), Double($0.logprob)) }) { first, _ in first }
            },
            text_offset: offsets
        )
    }
}
