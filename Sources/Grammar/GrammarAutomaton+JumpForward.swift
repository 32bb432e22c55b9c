extension GrammarAutomaton {
    /// Tokens for the text the grammar forces after `state` (jump-forward decoding's draft): while the
    /// grammar forces at least one byte, the token `preferred` names for the state (the caller's memory of
    /// what decoding chose there, so drafts split the text as the model does), and where it names none,
    /// `tokenize` of the rest of the forced text. Stops at `limit` tokens, where nothing is forced, or at a
    /// token the grammar refuses.
    public func forcedTokens(
        after state: Int32,
        limit: Int,
        preferred: (Int32) -> Int32?,
        tokenize: ([UInt8]) -> [Int32]
    ) -> [Int32] {
        lock.withLock { _ in
            var state = state
            var tokens: [Int32] = []
            while tokens.count < limit {
                let f = forced(state)
                guard f >= 0 && f < 256 else { return tokens }
                guard let token = preferred(state) else { break }
                let next = advanceLocked(state, token: token)
                guard next != Self.dead else { break }
                tokens.append(token)
                state = next
            }
            var bytes: [UInt8] = []
            var s = state
            while bytes.count < 256 {
                let f = forced(s)
                guard f >= 0 && f < 256 else { break }
                bytes.append(UInt8(f))
                s = step(s, UInt8(f))
            }
            // Whole characters only: tokenizers take text.
            while !bytes.isEmpty && String(validating: bytes, as: UTF8.self) == nil { bytes.removeLast() }
            guard !bytes.isEmpty else { return tokens }
            for token in tokenize(bytes) where tokens.count < limit {
                let next = advanceLocked(state, token: token)
                guard next != Self.dead else { break }
                tokens.append(token)
                state = next
            }
            return tokens
        }
    }
}
