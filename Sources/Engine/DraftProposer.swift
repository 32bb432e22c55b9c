import GGUF
import SwerveCore

/// A source of draft tokens for `--speculative-config` (`NgramProposer`, `SuffixProposer`): given a
/// sequence's tokens so far (prompt and output), the tokens it expects next. Drafts are only proposals:
/// each is kept only if sampling at its row picks it, so a proposer can change how many steps an answer
/// takes, never the answer.
protocol DraftProposer: AnyObject {
    /// Draft tokens proposed at most.
    var count: Int { get }
    /// Whether it also drafts after jump-forward's drafts for constrained sequences (a proposer that learns
    /// answers across requests can); otherwise only sequences without a constraint get its drafts.
    var draftsConstrained: Bool { get }
    /// Up to `limit` (and `count`) tokens to follow `tokens`; empty when it has no guess. Without
    /// `ownTokens`, only what it learned from other completions (a constrained answer's format is not its
    /// prompt's text).
    func propose(_ tokens: [Int32], limit: Int, ownTokens: Bool) -> [Int32]
    /// A completion finished: `tokens` is its prompt (the first `promptLength`) and its output.
    func finished(_ tokens: [Int32], promptLength: Int)
}

extension DraftProposer {
    func propose(_ tokens: [Int32], limit: Int) -> [Int32] { propose(tokens, limit: limit, ownTokens: true) }
}

/// The proposer a configuration asks for; a draft model runs on the served model's `backend` and must
/// share `target`'s vocabulary.
func makeDraftProposer(
    _ config: SpeculativeConfig?,
    target: GGUFFile,
    backend: any Backend,
    plan: KVCachePlan
) throws(EngineError) -> (any DraftProposer)? {
    guard let config else { return nil }
    switch config.method {
    case .ngram: return NgramProposer(config)
    case .suffix: return SuffixProposer(config)
    case .draftModel:
        return try DraftModelProposer(config, target: target, backend: backend, maxModelLen: plan.maxModelLen)
    }
}
