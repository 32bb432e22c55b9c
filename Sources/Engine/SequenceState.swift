import Grammar

/// One completion's sampling side, as the engine keeps it between steps: its sampler (seeded generator,
/// penalties' counts), its grammar's position, the bans `min_tokens` needs, and a classification being
/// scored. The text side lives in `OutputProcessor.Stream`, the tokens and KV in the scheduler.
struct SequenceState {
    let requestID: String
    var sampler: Sampler
    /// The structured-output constraint's position after the tokens so far.
    var matcher: GrammarMatcher?
    /// Tokens sampling may not choose before `minTokens` (end of sequence, stop token ids).
    let banned: [Int32]
    /// Tokens appended to the output so far.
    var generated = 0
    /// One-pass classification due at the next sampled row, or waiting for its scoring forks.
    var classification: PendingClassification?
    /// Decided classifications not yet reported in an output.
    var reports: [Classification] = []
    /// The prompt and every token appended since, kept only for a draft proposer (`--speculative-config`);
    /// empty: the proposer drafts nothing for this sequence.
    var history: [Int32] = []
    /// Tokens of the prompt (the start of `history`).
    var promptLength = 0
    /// Whether the proposer's drafts are paused for low acceptance.
    var draftGate: DraftGate
    /// The memory of the tokens each step samples (`Scheduler.Sampled.tokens`), reused step after step
    /// (`takeEmptied`) once last step's result and output have let go of it.
    var sampled: [Int32] = []

    /// Takes the best alternative of the classification: reported in the next output, and the sampler and
    /// matcher advanced over its tokens, which are returned.
    mutating func decide() -> [Int32] {
        guard let pending = classification else { return [] }
        let (tokens, report) = pending.decision
        reports.append(report)
        classification = nil
        for token in tokens {
            sampler.observe(token)
            matcher?.accept(token)
        }
        return tokens
    }
}
