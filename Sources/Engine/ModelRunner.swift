import Models
import SwerveCore

/// Runs a scheduled batch through the model (vLLM's model runner): owns the forward pass, the paged KV
/// tensor, the step's `BatchLayout` and the logits buffer. A step makes the batch's KV block copies (new
/// forks' partly filled blocks), lays every entry's tokens end to end, and runs one forward pass that
/// leaves each entry's logits rows in `logits`, entry by entry.
///
/// The engine's loop is its one caller; it owns nothing about requests.
final class ModelRunner {
    let forward: any ForwardPass
    let kv: BackendTensor
    let layout: BatchLayout
    let vocabularySize: Int
    /// `configuration.logitRows` rows of `vocabularySize` logits: the host's copies of the rows it reads
    /// (`withRow`), each copied from the backend on first use in a step.
    var logits: [Float]
    /// Whether row i of `logits` holds this step's values yet.
    var fetched: [Bool]
    /// The step's logits on the backend, as `ForwardPass.forward` left them.
    var device: BackendTensor?
    /// The backend's row buckets that a step fits in (`Backend.rowBuckets`), and the KV blocks past the
    /// scheduler's pool that padding rows write to.
    let buckets: [Int]
    let paddingBlocks: [Int]

    init(forward: any ForwardPass, plan: KVCachePlan, configuration: EngineConfiguration) {
        self.forward = forward
        vocabularySize = forward.config.vocabularySize
        buckets = forward.backend.rowBuckets.filter { $0 > 0 && $0 <= forward.maxBatch }.sorted()
        let padding = ((buckets.last ?? 0) + plan.blockSize - 1) / plan.blockSize
        paddingBlocks = Array(plan.blocks..<(plan.blocks + padding))
        kv = forward.makeKVCache(blocks: plan.blocks + padding, blockSize: plan.blockSize, type: plan.type)
        layout = BatchLayout(blockSize: plan.blockSize)
        layout.reserve(
            rows: max(configuration.maxNumBatchedTokens, buckets.last ?? 0),
            sequences: configuration.maxNumSeqs + 1,
            blocks: configuration.maxNumSeqs * ((plan.maxModelLen + plan.blockSize - 1) / plan.blockSize) + padding,
            headColumns: min(configuration.maxSparseHeadTokens, vocabularySize)
        )
        logits = [Float](repeating: 0, count: configuration.logitRows * vocabularySize)
        fetched = [Bool](repeating: false, count: configuration.logitRows)
    }

    /// Runs `batch`: its KV copies, then one forward pass. With `head`, the output projection computes only
    /// the tokens whose bits are set (the others' logits are -inf).
    func run(_ batch: Scheduler.Batch, head: [UInt64]?) {
        for copy in batch.copies {
            forward.backend.copyKVBlock(kv, from: copy.source, to: copy.destination, positions: copy.positions)
        }
        layout.reset()
        for entry in batch.entries {
            entry.tokens.withUnsafeBufferPointer {
                layout.append(
                    $0,
                    firstPosition: entry.firstPosition,
                    blockTable: entry.blockTable[...],
                    logitRows: entry.logitRows
                )
            }
        }
        if let bucket = buckets.first(where: { $0 >= layout.rowCount }), bucket > layout.rowCount {
            let rows = bucket - layout.rowCount
            layout.pad(to: bucket, blocks: paddingBlocks[..<((rows + layout.blockSize - 1) / layout.blockSize)])
        }
        head?.withUnsafeBufferPointer { layout.restrictHead(to: $0) }
        device = forward.forward(layout, cache: kv)
        fetched.withUnsafeMutableBufferPointer { $0.update(repeating: false) }
    }

    /// Has the backend choose the tokens of `requests`' rows where the logits are (`Backend.sample`); those
    /// rows are not read to the host afterwards.
    func sample(
        _ requests: UnsafeBufferPointer<RowSampling>,
        masks: UnsafeBufferPointer<UInt64>,
        into chosen: UnsafeMutableBufferPointer<SampledToken>,
        top: UnsafeMutableBufferPointer<SampledToken>,
        topStride: Int
    ) {
        guard let device, !requests.isEmpty else { return }
        forward.backend.sample(device, requests, masks: masks, into: chosen, top: top, topStride: topStride)
    }

    /// Calls `body` with logits row `row` (copied from the backend the first time a step asks for it),
    /// which it may change in place.
    func withRow<R>(_ row: Int, _ body: (UnsafeMutableBufferPointer<Float>) -> R) -> R {
        logits.withUnsafeMutableBufferPointer { all in
            let values = UnsafeMutableBufferPointer(
                rebasing: all[(row * vocabularySize)..<((row + 1) * vocabularySize)]
            )
            if !fetched[row], let device {
                forward.backend.read(device, rows: row..<(row + 1), into: values)
                fetched[row] = true
            }
            return body(values)
        }
    }

    /// log Σ exp over logits row `row`: what a logit less is its token's log-probability.
    func logSumExp(row: Int) -> Float { withRow(row) { RowSampling.logSumExp(UnsafeBufferPointer($0)) } }

    func logit(row: Int, token: Int32) -> Float { withRow(row) { $0[Int(token)] } }
}
