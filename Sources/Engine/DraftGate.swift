/// Turns a sequence's proposer drafts off while they keep being rejected (speculative decoding's adaptive rule): a
/// rejected draft still costs its rows in the step, so a sequence the proposer cannot predict (free text
/// after an echo, a model that stopped following its prompt) pauses instead. After `missesToPause` drafts in
/// a row with no token accepted it proposes nothing for `pause` steps; each pause that ends in another run of
/// misses doubles the next (up to `longestPause`), and one accepted token makes the next pause short again.
/// Eight misses, not fewer: a model that falls into a loop is drafted well once it is in it, and a shorter
/// fuse paused sequences just before that (32 greedy sequences on a synthetic model took more steps than
/// without drafts at four).
/// Jump-forward's drafts are never paused (the grammar forces their text); a step that ran them counts here
/// by what it accepted, like any other.
struct DraftGate: Sendable, Equatable {
    static let shortestPause = 8
    static let longestPause = 256

    /// Rejected drafts in a row that pause the proposer (`Int.max`: never).
    var missesToPause = 8
    /// Drafts in a row with no token accepted.
    var misses = 0
    /// Steps left without proposals.
    var paused = 0
    /// The next pause's length.
    var pause = DraftGate.shortestPause

    /// Whether the sequence gets a proposer draft after a step that ran `drafted` draft tokens for it and
    /// accepted `accepted` of them.
    mutating func allows(drafted: Int, accepted: Int) -> Bool {
        if accepted > 0 {
            misses = 0
            pause = Self.shortestPause
        } else if drafted > 0 {
            misses += 1
        }
        if paused > 0 {
            paused -= 1
            return false
        }
        guard misses >= missesToPause else { return true }
        misses = 0
        paused = pause - 1
        pause = min(2 * pause, Self.longestPause)
        return false
    }
}
