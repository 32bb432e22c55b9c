import Grammar

/// A step's sampling: every sampled entry's rows through the logits pipeline, draft tokens verified,
/// classification rows scored, each result extended by the jump-forward policy and cut where a stop string
/// ends it. What it returns goes to `Scheduler.update` whole.
extension EngineCore {
    /// Samples every entry that samples: its draft tokens are checked in order against what sampling picks
    /// at their rows (kept while equal), then one new token; a classifying sequence at its choice scores it
    /// instead (asking for forks when an alternative is longer than one token); scoring forks add their
    /// rows to their parent's scores, and a parent whose forks all reported decides. The jump-forward
    /// policy extends each result, and the draft proposer (`--speculative-config`) extends its draft.
    func sample(_ batch: Scheduler.Batch) {
        // Reused step after step: unique again once the last step's update and outputs let go of it.
        results.removeAll(keepingCapacity: true)
        sampledLogprobs.removeAll(keepingCapacity: true)
        unforked.removeAll(keepingCapacity: true)
        var scored: [Int] = []
        if configuration.sampleOnBackend {
            pipeline.chooseOnBackend(batch, sequences, scoring: scoringParent, runner: runner)
        }
        var row = 0
        for entry in batch.entries where entry.samples {
            defer { row += entry.logitRows }
            if let parent = scoringParent[entry.id] {
                sequences[parent]?.classification?.score(child: entry.id, row: row, rows: entry.logitRows, runner)
                results[entry.id] = Scheduler.Sampled(tokens: [])
                if !scored.contains(parent) { scored.append(parent) }
                continue
            }
            // Taken out of the table while it changes, so the sampler's scratch is not copied on write.
            guard var sequence = sequences.removeValue(forKey: entry.id) else { continue }
            var result = Scheduler.Sampled(tokens: sequence.sampled.takeEmptied())
            var logprobs: [TokenLogprobs] = []
            let draft = entry.draftTokens
            for i in 0..<entry.logitRows {
                if sequence.scoresChoice(row: row + i, runner, tokenizer, into: &result, nextID: &nextSequenceID) {
                    break
                }
                let onBackend = pipeline.chosenAt(row + i, for: &sequence)
                let (token, logprob) =
                    onBackend
                    ?? runner.withRow(row + i) { pipeline.choose($0, for: &sequence, earlier: result.tokens.count) }
                if onBackend != nil { stats.backendSampledRows += 1 } else { stats.hostSampledRows += 1 }
                if let logprob { logprobs.append(logprob) }
                result.tokens.append(token)
                sequence.sampler.observe(token)
                if let matcher = sequence.matcher { jumpForward.record(matcher, token) }
                sequence.matcher?.accept(token)
                guard i < entry.draft, token == draft[draft.startIndex + i] else { break }
                result.acceptedDraft += 1
            }
            if result.forks.isEmpty {
                result.tokens += sequence.decide()
                jumpForward.proceed(&sequence, &result)
                propose(&sequence, &result, drafted: entry.draft)
            } else {
                for fork in result.forks { scoringParent[fork.child] = entry.id }
                var fallback = sequence.unforked()
                result.tokens += fallback.decide()
                jumpForward.proceed(&fallback, &result)
                unforked[entry.id] = fallback
            }
            if sequence.sampler.parameters.logprobs != nil { sampledLogprobs[entry.id] = logprobs }
            sequence.sampled = result.tokens
            sequences[entry.id] = sequence
            result.stopAfter = outputs.stopStringEnd(entry.id, tokens: result.tokens)
            results[entry.id] = result
        }
        resumed.removeAll(keepingCapacity: true)
        for parent in scored where sequences[parent]?.classification?.isScored == true {
            var sequence = sequences[parent]!
            for child in sequence.classification!.children.keys { scoringParent[child] = nil }
            var result = Scheduler.Sampled(tokens: sequence.decide())
            jumpForward.proceed(&sequence, &result)
            sequences[parent] = sequence
            result.stopAfter = outputs.stopStringEnd(parent, tokens: result.tokens)
            results[parent] = result
            resumed.append(parent)
        }
    }

    /// The next draft from the proposer (`--speculative-config`), for a sequence `add` gave a history (after
    /// jump-forward's draft for a constrained one), unless its gate pauses it after a step that ran `drafted`
    /// draft tokens (`DraftGate`).
    func propose(_ sequence: inout SequenceState, _ result: inout Scheduler.Sampled, drafted: Int) {
        guard proposer != nil, !sequence.history.isEmpty else { return }
        sequence.history += result.tokens
        guard sequence.draftGate.allows(drafted: drafted, accepted: result.acceptedDraft), !result.end else { return }
        extend(&result.draft, after: sequence.history, matcher: sequence.matcher)
    }

    /// `draft` extended by the proposer's guess of what follows `history` and `draft`, to its `count` at most;
    /// under a constraint (`matcher`, where `history` ends), cut before the first token the grammar forbids,
    /// which sampling would reject anyway.
    func extend(_ draft: inout [Int32], after history: [Int32], matcher: GrammarMatcher?) {
        guard let proposer, draft.count < proposer.count else { return }
        let limit = proposer.count - draft.count
        let guess = proposer.propose(draft.isEmpty ? history : history + draft, limit: limit, ownTokens: matcher == nil)
        guard var matcher else {
            draft += guess
            return
        }
        for token in draft where !matcher.accept(token) { return }
        for token in guess {
            guard matcher.accept(token) else { return }
            draft.append(token)
        }
    }
}
