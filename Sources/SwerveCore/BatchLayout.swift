import Synchronization

/// What one forward step runs: the tokens of every sequence in the batch laid end to end (a prefill chunk
/// or one decode token each), their positions, each sequence's block table into the paged KV cache, and
/// which rows' logits the step needs.
///
/// One object is refilled every step (`reset`, then `append` per sequence), so after the first steps it
/// allocates nothing. The engine fills it; a backend reads it in `rope` and `attention`.
public final class BatchLayout: @unchecked Sendable {
    /// One sequence's rows: `rows` tokens from row `firstRow`, at positions `firstPosition...`, whose KV
    /// blocks are `blockTables[tableStart..<tableStart + tableCount]`.
    public struct Sequence: Sendable {
        public var firstRow: Int
        public var rows: Int
        public var firstPosition: Int
        public var tableStart: Int
        public var tableCount: Int
    }

    /// Positions per KV block.
    public let blockSize: Int
    public private(set) var tokens: [Int32] = []
    /// Each row's position in its sequence.
    public private(set) var positions: [Int32] = []
    /// Each row's index in `sequences`.
    public private(set) var rowSequence: [Int32] = []
    public private(set) var sequences: [Sequence] = []
    public private(set) var blockTables: [Int32] = []
    /// Rows whose logits the step returns, in order (the last row of each sequence that samples, and its
    /// speculative rows).
    public private(set) var logitRows: [Int32] = []
    /// When not empty: the only output-head columns (token ids) any logits row of this step needs, so the
    /// forward pass may compute just those (`Backend.matmul(_:rows:weight:columns:into:)`); the other
    /// logits are then -inf or their true value. Set by the engine when every sampled row is constrained.
    public private(set) var headColumns: [Int32] = []
    /// Rows at the end that only pad the step to a backend's row bucket (`pad(to:blocks:)`).
    public private(set) var paddingRows = 0
    /// Changes on every `reset`, so a backend can tell a new batch from the one it cached tables for.
    public private(set) var serial: UInt64 = 0

    static let serials = Atomic<UInt64>(0)

    public init(blockSize: Int) {
        self.blockSize = blockSize
    }

    public var rowCount: Int { tokens.count }

    /// Makes room for steps of up to `rows` tokens, `sequences` sequences, `blocks` table entries and
    /// `headColumns` restricted head columns, so filling the layout never allocates.
    public func reserve(rows: Int, sequences count: Int, blocks: Int, headColumns columns: Int = 0) {
        headColumns.reserveCapacity(columns)
        tokens.reserveCapacity(rows)
        positions.reserveCapacity(rows)
        rowSequence.reserveCapacity(rows)
        sequences.reserveCapacity(count)
        logitRows.reserveCapacity(rows)
        blockTables.reserveCapacity(blocks)
    }

    /// The KV cache slot (block × `blockSize` + offset in the block) that holds position `position` of row
    /// `row`'s sequence.
    @inline(__always)
    public func slot(row: Int, position: Int) -> Int {
        let table = sequences[Int(rowSequence[row])].tableStart
        return Int(blockTables[table + position / blockSize]) * blockSize + position % blockSize
    }

    /// Limits this step's output head to the tokens set in `mask` (a bitmask over the vocabulary, 64 tokens a
    /// word).
    public func restrictHead(to mask: UnsafeBufferPointer<UInt64>) {
        headColumns.removeAll(keepingCapacity: true)
        for w in 0..<mask.count where mask[w] != 0 {
            var word = mask[w]
            while word != 0 {
                headColumns.append(Int32(w << 6 + word.trailingZeroBitCount))
                word &= word - 1
            }
        }
    }

    /// Empties the layout for the next step, keeping its capacity.
    public func reset() {
        tokens.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        rowSequence.removeAll(keepingCapacity: true)
        sequences.removeAll(keepingCapacity: true)
        blockTables.removeAll(keepingCapacity: true)
        logitRows.removeAll(keepingCapacity: true)
        headColumns.removeAll(keepingCapacity: true)
        paddingRows = 0
        serial = Self.serials.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Pads the step to `rows` rows (no fewer than it has) with one sequence of token-0 rows at positions
    /// 0... in `blocks` (KV blocks no request owns, enough for the padding), whose logits nobody asks for.
    public func pad(to rows: Int, blocks: ArraySlice<Int>) {
        let count = rows - tokens.count
        guard count > 0 else { return }
        precondition(blocks.count * blockSize >= count, "padding blocks cannot hold \(count) rows")
        addSequence(rows: count, firstPosition: 0, blockTable: blocks)
        tokens.append(contentsOf: repeatElement(0, count: count))
        paddingRows = count
    }

    /// Adds a sequence's `tokens` at positions `firstPosition...`, its KV in `blockTable` (which must cover
    /// every position up to the last token's); `logits`: the step returns the last token's logits.
    public func append(
        _ newTokens: UnsafeBufferPointer<Int32>,
        firstPosition: Int,
        blockTable: ArraySlice<Int>,
        logits: Bool
    ) {
        append(newTokens, firstPosition: firstPosition, blockTable: blockTable, logitRows: logits ? 1 : 0)
    }

    /// Adds a sequence as above; the step returns the logits of its last `logitRows` tokens (speculative
    /// tokens need one row each).
    public func append(
        _ newTokens: UnsafeBufferPointer<Int32>,
        firstPosition: Int,
        blockTable: ArraySlice<Int>,
        logitRows: Int
    ) {
        precondition(
            blockTable.count * blockSize >= firstPosition + newTokens.count,
            "block table of \(blockTable.count) blocks cannot hold position \(firstPosition + newTokens.count - 1)"
        )
        addSequence(rows: newTokens.count, firstPosition: firstPosition, blockTable: blockTable)
        tokens.append(contentsOf: newTokens)
        precondition(logitRows <= newTokens.count, "more logits rows than tokens")
        for row in (tokens.count - logitRows)..<tokens.count { self.logitRows.append(Int32(row)) }
    }
}

extension BatchLayout {
    /// A sequence's bookkeeping for `rows` rows from position `firstPosition` with its KV in `blockTable`;
    /// the caller appends its tokens next.
    fileprivate func addSequence(rows: Int, firstPosition: Int, blockTable: ArraySlice<Int>) {
        let index = Int32(sequences.count)
        sequences.append(
            Sequence(
                firstRow: tokens.count,
                rows: rows,
                firstPosition: firstPosition,
                tableStart: blockTables.count,
                tableCount: blockTable.count
            )
        )
        for position in firstPosition..<(firstPosition + rows) {
            positions.append(Int32(position))
            rowSequence.append(index)
        }
        for block in blockTable { blockTables.append(Int32(block)) }
    }
}

/// The element type of the KV cache (`--kv-cache-dtype`): f16 (vLLM's `auto` for these models), or 8-bit
/// Q8_0 blocks of 32 values, which halves the KV memory at a small cost in accuracy.
public enum KVCacheType: String, Sendable, CaseIterable {
    case f16
    case q8_0

    /// Bytes one position's keys or values of `width` values take.
    public func rowBytes(width: Int) -> Int {
        switch self {
        case .f16: width * 2
        case .q8_0: width / 32 * 34
        }
    }

    /// Bytes one token takes in a cache of `layers` layers of `width` keys and `width` values.
    public func bytesPerToken(layers: Int, width: Int) -> Int { 2 * layers * rowBytes(width: width) }
}
