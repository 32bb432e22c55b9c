import Grammar
import Tokenizers

/// What follows a constrained sequence's sampled tokens (SGLang's jump-forward decoding, with the grammar
/// as the draft model): the tokens the grammar alone decides (the only one it allows, appended without a
/// forward pass of their own), whether the output must end there, a classification point, and the draft
/// of the text the grammar forces, which the next step runs in the same forward pass and sampling verifies
/// token by token (so the output is what masked decoding would give).
///
/// A draft splits forced text as the model did before in the same grammar state: the policy remembers the
/// token decoding chose in each state of each grammar (a draft model learned from earlier answers, shared
/// by the requests that use the grammar), and tokenizes the text where it has no such memory.
struct JumpForwardPolicy {
    let enabled: Bool
    let maxDraftTokens: Int
    let tokenizer: any Tokenizer
    let endOfGeneration: Set<Int32>
    var learned: [ObjectIdentifier: Learned] = [:]

    /// The choices learned for one grammar (held weakly: a grammar the constraint cache dropped takes its
    /// memory with it).
    struct Learned {
        weak var automaton: GrammarAutomaton?
        var choices: [Int32: Int32] = [:]
    }

    init(enabled: Bool, maxDraftTokens: Int, tokenizer: any Tokenizer, endOfGeneration: Set<Int32>) {
        self.enabled = enabled
        self.maxDraftTokens = maxDraftTokens
        self.tokenizer = tokenizer
        self.endOfGeneration = endOfGeneration
    }

    /// Remembers that decoding chose `token` where `matcher` stands.
    mutating func record(_ matcher: GrammarMatcher, _ token: Int32) {
        guard enabled else { return }
        let key = ObjectIdentifier(matcher.automaton)
        if learned[key]?.automaton !== matcher.automaton {
            learned = learned.filter { $0.value.automaton != nil }
            learned[key] = Learned(automaton: matcher.automaton)
        }
        learned[key]!.choices[matcher.state] = token
    }

    /// The draft for the text the grammar forces after `matcher`.
    func draft(after matcher: GrammarMatcher) -> [Int32] {
        guard enabled else { return [] }
        let choices = learned[ObjectIdentifier(matcher.automaton)].flatMap {
            $0.automaton === matcher.automaton ? $0.choices : nil
        }
        return matcher.automaton.forcedTokens(
            after: matcher.state,
            limit: maxDraftTokens,
            preferred: { choices?[$0] },
            tokenize: {
                tokenizer.encode(String(decoding: $0, as: UTF8.self), parseSpecial: false, addBOS: false).map(
                    Int32.init
                )
            }
        )
    }

    /// Extends `result` past `sequence`'s new tokens: stops at a classification point (scored at the next
    /// row), or, with jump-forward on, appends the tokens the grammar alone decides (unless the request
    /// wants their log-probabilities, which need logits), marks whether the output must end, and sets the
    /// next draft.
    mutating func proceed(_ sequence: inout SequenceState, _ result: inout Scheduler.Sampled) {
        guard var matcher = sequence.matcher, let last = result.tokens.last, !endOfGeneration.contains(last) else {
            return
        }
        defer { sequence.matcher = matcher }
        while !matcher.isDead && !matcher.mustEnd {
            if sequence.sampler.parameters.classify,
                let point = PendingClassification(at: matcher, tokenizer: tokenizer)
            {
                sequence.classification = point
                return
            }
            guard enabled, sequence.sampler.parameters.logprobs == nil,
                result.tokens.count < sequence.sampler.parameters.maxTokens,
                let only = matcher.automaton.onlyToken(matcher.state)
            else { break }
            result.tokens.append(only)
            sequence.sampler.observe(only)
            record(matcher, only)
            matcher.accept(only)
        }
        guard enabled else { return }
        result.end = matcher.mustEnd
        if !result.end && !matcher.isDead { result.draft = draft(after: matcher) }
    }
}
