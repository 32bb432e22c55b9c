import GGUF
import Models
import SwerveCore

/// vLLM's `draft_model` method: a second, smaller model of the same vocabulary, run by the engine on the
/// same backend, proposes `count` tokens greedily after a sequence's tokens. Each proposal is one pass
/// over the tokens its KV cache lacks, then one single-token pass per further draft token, batched with
/// nothing else (vLLM's draft model runs as its own step too).
///
/// The draft model keeps its KV cache across steps in `slots`, one per recent sequence, each a list of
/// blocks of one paged cache: a proposal takes the slot whose tokens share the longest prefix with the
/// sequence's (a sequence's own, whose tokens grow by what the target accepted), computes only past that
/// prefix (its rejected draft positions are simply written over), and a finished sequence frees its slot.
/// When blocks run out the least recently used slot is evicted; a sequence that still cannot fit (past
/// `maxPositions`) gets no draft: it decodes as without speculation.
final class DraftModelProposer: DraftProposer {
    let count: Int
    /// Its guesses follow any grammar's prefix: the engine cuts them where the grammar forbids.
    var draftsConstrained: Bool { true }
    let forward: any ForwardPass
    let kv: BackendTensor
    let layout: BatchLayout
    let blockSize = 16
    static let maxPositions = 2048
    var freeBlocks: [Int]
    var slots: [Slot] = []
    var clock = 0
    var logits: [Float]

    struct Slot {
        /// Tokens whose keys and values the slot's blocks hold, positions 0...
        var tokens: [Int32]
        var blocks: [Int]
        var lastUse: Int
    }

    /// Loads the draft model of `config` on `backend`; refuses one that cannot load or whose vocabulary
    /// differs from the served model's (`target`), naming the file.
    init(
        _ config: SpeculativeConfig,
        target: GGUFFile,
        backend: any Backend,
        maxModelLen: Int,
        maxSequences: Int = 4
    ) throws(EngineError) {
        let path = config.model ?? ""
        let gguf: GGUFFile
        do { gguf = try ModelFile.open(path) } catch {
            throw .configuration("--speculative-config draft model '\(path)' cannot load: \(error)")
        }
        do {
            forward = try ModelRegistry.makeForward(gguf: gguf, backend: backend, maxBatch: 64)
        } catch {
            throw .configuration("--speculative-config draft model '\(path)' cannot load: \(error)")
        }
        let draftTokens = gguf.metadata["tokenizer.ggml.tokens"]
        let targetTokens = target.metadata["tokenizer.ggml.tokens"]
        let targetSize = (try? ModelRegistry.config(of: target).vocabularySize) ?? -1
        guard forward.config.vocabularySize == targetSize, draftTokens == targetTokens else {
            throw .configuration(
                "--speculative-config draft model '\(path)' has a vocabulary of \(forward.config.vocabularySize) "
                    + "tokens unlike the served model's \(targetSize) (or different token texts): a draft model "
                    + "must share the served model's vocabulary"
            )
        }
        count = config.numSpeculativeTokens
        // Room for `maxSequences` sequences of up to 2,048 positions (longer ones get no drafts).
        let blocksPerSequence = (min(maxModelLen, Self.maxPositions) + count + blockSize - 1) / blockSize
        let blocks = maxSequences * blocksPerSequence
        kv = forward.makeKVCache(blocks: blocks, blockSize: blockSize)
        freeBlocks = Array((0..<blocks).reversed())
        layout = BatchLayout(blockSize: blockSize)
        layout.reserve(rows: forward.maxBatch, sequences: 1, blocks: blocksPerSequence)
        logits = [Float](repeating: 0, count: forward.config.vocabularySize)
    }

    func propose(_ tokens: [Int32], limit: Int, ownTokens: Bool) -> [Int32] {
        let k = min(count, limit)
        guard k > 0, !tokens.isEmpty, let index = slot(for: tokens, positions: tokens.count + k - 1) else { return [] }
        clock += 1
        slots[index].lastUse = clock
        var slot = slots[index]
        var draft: [Int32] = []
        // The positions past the prefix the slot already holds, the last token's logits wanted.
        var start = commonPrefix(slot.tokens, tokens)
        if start == tokens.count { start -= 1 }  // the last token again, for its logits
        var pending = Array(tokens[start...])
        var position = start
        slot.tokens.removeSubrange(start...)
        while draft.count < k {
            var first = 0
            while first < pending.count {
                let end = min(pending.count, first + forward.maxBatch)
                layout.reset()
                pending[first..<end].withUnsafeBufferPointer {
                    layout.append(
                        $0,
                        firstPosition: position + first,
                        blockTable: slot.blocks[...],
                        logits: end == pending.count
                    )
                }
                logits.withUnsafeMutableBufferPointer { forward.forward(layout, cache: kv, logits: $0) }
                first = end
            }
            slot.tokens += pending
            position += pending.count
            let next = logits.withUnsafeBufferPointer { RowSampling.argmax($0) }
            draft.append(next)
            pending = [next]
        }
        slots[index] = slot
        return draft
    }

    /// The slot to propose from: the one sharing the longest prefix with `tokens` (a free or evicted one
    /// when none shares any), grown to hold `positions` positions; nil when the pool cannot.
    func slot(for tokens: [Int32], positions: Int) -> Int? {
        let best: Int
        if let shared = longestPrefix(tokens) {
            best = shared
        } else if let emptied = slots.firstIndex(where: { $0.blocks.isEmpty }) {
            best = emptied  // evicted, or too long before
            slots[best].tokens = []
        } else {
            best = slots.count
            slots.append(Slot(tokens: [], blocks: [], lastUse: clock))
        }
        let needed = (positions + blockSize - 1) / blockSize
        while slots[best].blocks.count < needed {
            if freeBlocks.isEmpty && !evict(keeping: best) { break }
            if let block = freeBlocks.popLast() { slots[best].blocks.append(block) }
        }
        guard slots[best].blocks.count >= needed else {
            // Too long for the pool even alone: its blocks go back, and it drafts no more.
            freeBlocks += slots[best].blocks
            slots[best].blocks = []
            slots[best].tokens = []
            return nil
        }
        return best
    }

    /// Frees the least recently used slot other than `keeping`; false if there is none.
    func evict(keeping: Int) -> Bool {
        guard
            let victim = slots.indices.filter({ $0 != keeping && !slots[$0].blocks.isEmpty })
                .min(by: { slots[$0].lastUse < slots[$1].lastUse })
        else { return false }
        freeBlocks += slots[victim].blocks
        slots[victim].blocks = []
        slots[victim].tokens = []
        return true
    }

    /// The slot sharing the longest prefix with `tokens` (the first on ties); nil when none shares any.
    func longestPrefix(_ tokens: [Int32]) -> Int? {
        var best: Int?
        var bestLength = 0
        for (i, slot) in slots.enumerated() {
            let length = commonPrefix(slot.tokens, tokens)
            if length > bestLength {
                best = i
                bestLength = length
            }
        }
        return best
    }

    func commonPrefix(_ a: [Int32], _ b: [Int32]) -> Int {
        let n = min(a.count, b.count)
        var i = 0
        while i < n && a[i] == b[i] { i += 1 }
        return i
    }

    /// The finished sequence's slot (the one holding its longest prefix) is freed.
    func finished(_ tokens: [Int32], promptLength: Int) {
        guard let best = longestPrefix(tokens) else { return }
        freeBlocks += slots[best].blocks
        slots.remove(at: best)
    }
}
