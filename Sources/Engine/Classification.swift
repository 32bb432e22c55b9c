import Grammar
import Tokenizers

/// One-pass classification of a choice between literals (an enum's values, a choice's strings): every
/// alternative's log-likelihood under the model, the most likely taken. The row that reaches the choice
/// scores every alternative's first token; alternatives of more than one token are scored by forks
/// (sequences sharing the KV blocks, one per alternative, all in one batched step) that the scheduler
/// makes while the sequence is parked; their rows add the rest. If the pool cannot hold the forks, the
/// first tokens decide.
struct PendingClassification {
    var alternatives: [[Int32]]
    /// The alternatives as reported (a JSON string's quotes dropped).
    var texts: [String]
    var scores: [Float]
    /// Fork sequence id -> the alternative it scores.
    var children: [Int: Int] = [:]
    /// The forks whose rows came.
    var reported = Set<Int>()

    /// The alternatives to classify when `matcher` is inside a choice between literals (each tokenized as
    /// the tokenizer would, and checked against the grammar); nil where classification does not apply (not
    /// a literal choice, more than 64 alternatives, an alternative over 32 tokens or not whole UTF-8).
    init?(at matcher: GrammarMatcher, tokenizer: any Tokenizer) {
        guard let literals = matcher.automaton.literalAlternatives(matcher.state), literals.count <= 64 else {
            return nil
        }
        alternatives = []
        texts = []
        for bytes in literals {
            guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
            let ids = tokenizer.encode(text, parseSpecial: false, addBOS: false).map(Int32.init)
            var check = matcher
            guard !ids.isEmpty, ids.count <= 32, ids.allSatisfy({ check.accept($0) }) else { return nil }
            alternatives.append(ids)
            // A JSON string value's quotes are part of the literal; report the value itself.
            let quoted = text.count >= 2 && text.hasPrefix("\"") && text.hasSuffix("\"")
            texts.append(
                quoted ? String(text.dropFirst().dropLast()) : text.hasSuffix("\"") ? String(text.dropLast()) : text
            )
        }
        scores = [Float](repeating: 0, count: alternatives.count)
    }

    /// Scores every alternative's first token with logits row `row`.
    mutating func scoreFirstTokens(row: Int, _ runner: ModelRunner) {
        let logTotal = runner.logSumExp(row: row)
        for (i, alternative) in alternatives.enumerated() {
            scores[i] = runner.logit(row: row, token: alternative[0]) - logTotal
        }
    }

    /// The forks to score the alternatives of more than one token, numbered from `nextID` (which advances):
    /// each runs the alternative's tokens but its last, after the sequence's.
    mutating func forks(nextID: inout Int) -> [Scheduler.Fork] {
        var forks: [Scheduler.Fork] = []
        for (i, alternative) in alternatives.enumerated() where alternative.count > 1 {
            children[nextID] = i
            forks.append(Scheduler.Fork(child: nextID, tokens: Array(alternative.dropLast())))
            nextID += 1
        }
        return forks
    }

    /// Adds fork `child`'s `rows` logits rows from `row` on to its alternative's log-likelihood: row j
    /// predicts the alternative's token j + 1.
    mutating func score(child: Int, row: Int, rows: Int, _ runner: ModelRunner) {
        guard let index = children[child] else { return }
        let alternative = alternatives[index]
        for j in 0..<rows where j + 1 < alternative.count {
            scores[index] += runner.logit(row: row + j, token: alternative[j + 1]) - runner.logSumExp(row: row + j)
        }
        reported.insert(child)
    }

    /// Every fork has reported.
    var isScored: Bool { reported.count == children.count }

    /// The decision: the best alternative's tokens, and the report.
    var decision: (tokens: [Int32], report: Classification) {
        var best = 0
        for i in scores.indices where scores[i] > scores[best] { best = i }
        return (alternatives[best], Classification(alternatives: texts, logprobs: scores, chosen: best))
    }
}

extension SequenceState {
    /// At a choice between literals, a classifying sequence scores the alternatives' first tokens with
    /// logits row `row` instead of sampling it (true), asking in `result` for forks from `nextID` on when an
    /// alternative is longer than one token.
    mutating func scoresChoice(
        row: Int,
        _ runner: ModelRunner,
        _ tokenizer: any Tokenizer,
        into result: inout Scheduler.Sampled,
        nextID: inout Int
    ) -> Bool {
        guard sampler.parameters.classify, let matcher else { return false }
        if classification == nil { classification = PendingClassification(at: matcher, tokenizer: tokenizer) }
        guard classification != nil else { return false }
        classification!.scoreFirstTokens(row: row, runner)
        if classification!.alternatives.contains(where: { $0.count > 1 }) {
            result.forkAt = result.tokens.count
            result.forks = classification!.forks(nextID: &nextID)
        }
        return true
    }

    /// What the sequence becomes if the scheduler cannot make its forks: the first tokens decide.
    func unforked() -> SequenceState {
        var fallback = self
        fallback.classification?.children = [:]
        return fallback
    }
}
