import CKernels
import SwerveCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One operation of `CPUBackend` as the worker threads run it: its pointers and sizes, and how thread
/// `index` of `count` takes its share. A value stored in the backend while the pool runs it, so
/// dispatching allocates nothing.
enum Job {
    case none
    case everyThread(() -> Void)
    case rmsNorm(RMSNorm)
    case quantize(Quantize, rows: Int)
    case matmul(Matmul)
    case selectedGroups(SelectedGroups)
    case rope(Rope)
    case attention(Attention)
    case gated(Gated)
    /// Gemma 2's final-logit soft cap on `count` floats: cap * tanh(x / cap), -inf kept.
    case softcap(UnsafeMutablePointer<Float>, count: Int, cap: Float)
    /// Streams the bytes; each thread stores its checksum in `sink[index]` so the reads are observable.
    case read(UnsafeRawBufferPointer, sink: UnsafeMutablePointer<UInt64>)

    struct RMSNorm {
        var input, output: UnsafeMutablePointer<Float>
        var weight: UnsafeMutablePointer<Float>?
        var columns, group: Int
        var epsilon: Float
        var rows: Int
    }

    /// An input's rows quantized to each activation type whose offset in `quantized` is not -1.
    struct Quantize {
        var input: UnsafeMutablePointer<Float>
        var columns: Int
        var quantized: UnsafeMutableRawPointer
        var offsets: SIMD4<Int>
        var isa: swv_isa
    }

    /// The 16-row groups of all weights, laid end to end, split across the threads.
    struct Matmul {
        var quantize: Quantize
        var rows: Int
        var weights: [BackendTensor]
        var outputs: [BackendTensor]
        var totalGroups: Int
    }

    /// Some 16-row groups of one packed weight (ascending), split across the threads.
    struct SelectedGroups {
        var quantize: Quantize
        /// The activation slot the weight's type pairs with.
        var slot: Int
        var rows: Int
        var type: Int32
        var packed: UnsafeMutableRawPointer
        var weightRows: Int
        var groups: UnsafePointer<Int32>
        var groupCount: Int
        var output: UnsafeMutablePointer<Float>
        var outputStride: Int
    }

    struct Rope {
        var data: UnsafeMutablePointer<Float>
        var columns, heads, headDimension: Int
        var angles: UnsafeMutablePointer<Float>
        var neox: Int32
        var rows: Int
    }

    /// Every row of a batch attending over its own sequence's pages of one layer.
    struct Attention {
        var q: UnsafeMutablePointer<Float>
        var qStride: Int
        var keys, values: UnsafeMutableRawPointer
        var type: Int32
        var rowBytes, blockSize: Int
        var positions: UnsafePointer<Int32>
        var sequences: UnsafePointer<BatchLayout.Sequence>
        var sequenceCount: Int
        var tables: UnsafePointer<Int32>
        var output: UnsafeMutablePointer<Float>
        var outputStride, rows, heads, kvHeads, headDimension, window: Int
        var scale: Float
        var softcap: Float
    }

    struct Gated {
        var gate, up, output: UnsafeMutablePointer<Float>
        var columns: Int
        var gelu: Int32
        var rows: Int
    }

    func execute(_ index: Int, _ count: Int, backend: CPUBackend) {
        switch self {
        case .none: break
        case .everyThread(let body): body()
        case .rmsNorm(let j):
            for r in WorkerPool.share(of: j.rows, index, count) {
                for start in stride(from: 0, to: j.columns, by: j.group) {
                    let offset = r * j.columns + start
                    swv_rms_norm(j.input + offset, j.weight, j.output + offset, Int64(j.group), j.epsilon)
                }
            }
        case .quantize(let j, let rows):
            let rows = WorkerPool.share(of: rows, index, count)
            for slot in 0..<4 where j.offsets[slot] >= 0 {
                let type = CPUBackend.activationTypes[slot]
                let rowBytes = swv_row_bytes(type, Int64(j.columns))
                for r in rows {
                    swv_quantize_row_at(
                        j.isa,
                        type,
                        j.input + r * j.columns,
                        j.quantized + j.offsets[slot] + r * rowBytes,
                        Int64(j.columns)
                    )
                }
            }
        case .matmul(let j):
            let share = WorkerPool.share(of: j.totalGroups, index, count)
            var base = 0
            for (t, output) in zip(j.weights, j.outputs) {
                let w = backend.weights[t.id]
                let groups = CPUBackend.groups(w.rows)
                let lo = max(share.lowerBound, base) - base
                let hi = min(share.upperBound, base + groups) - base
                base += groups
                guard lo < hi else { continue }
                let slot = CPUBackend.activationSlot(w)
                let activations =
                    slot < 0
                    ? UnsafeRawPointer(j.quantize.input)
                    : UnsafeRawPointer(j.quantize.quantized + j.quantize.offsets[slot])
                let activationRowBytes =
                    slot < 0
                    ? j.quantize.columns * MemoryLayout<Float>.size
                    : swv_row_bytes(CPUBackend.activationTypes[slot], Int64(j.quantize.columns))
                let out = backend.activations[output.id]
                if let packed = w.packed {
                    swv_gemm_at(
                        j.quantize.isa,
                        Int32(w.type.rawValue),
                        Int64(j.quantize.columns),
                        packed,
                        Int64(lo),
                        Int64(hi),
                        Int64(w.rows),
                        activations,
                        activationRowBytes,
                        Int64(j.rows),
                        out.data,
                        Int64(out.columns)
                    )
                } else {
                    let rows = Int(SWV_PACK_ROWS)
                    swv_matmul(
                        Int32(w.type.rawValue),
                        Int64(j.quantize.columns),
                        w.data,
                        w.rowBytes,
                        Int64(lo * rows),
                        Int64(min(hi * rows, w.rows)),
                        activations,
                        activationRowBytes,
                        Int64(j.rows),
                        out.data,
                        Int64(out.columns)
                    )
                }
            }
        case .selectedGroups(let j):
            let share = WorkerPool.share(of: j.groupCount, index, count)
            var i = share.lowerBound
            let end = share.upperBound
            while i < end {
                // One call per run of consecutive groups.
                var next = i + 1
                while next < end && j.groups[next] == j.groups[next - 1] + 1 { next += 1 }
                swv_gemm_at(
                    j.quantize.isa,
                    j.type,
                    Int64(j.quantize.columns),
                    j.packed,
                    Int64(j.groups[i]),
                    Int64(j.groups[next - 1] + 1),
                    Int64(j.weightRows),
                    j.quantize.quantized + j.quantize.offsets[j.slot],
                    swv_row_bytes(CPUBackend.activationTypes[j.slot], Int64(j.quantize.columns)),
                    Int64(j.rows),
                    j.output,
                    Int64(j.outputStride)
                )
                i = next
            }
        case .rope(let j):
            for r in WorkerPool.share(of: j.rows, index, count) {
                for h in 0..<j.heads {
                    swv_rope_with(
                        j.data + r * j.columns + h * j.headDimension,
                        Int64(j.headDimension),
                        j.angles + r * j.headDimension,
                        j.neox
                    )
                }
            }
        case .attention(let j):
            // Units of (sequence, block of up to 16 rows, one KV group's heads), dealt round-robin: the
            // kernel shares each K/V block between a unit's rows and heads. A decode step (one row per
            // sequence) with fewer units than twice the threads deals each sequence's heads out in
            // contiguous ranges, one per thread, instead (one SmolLM2 row: 3 KV groups would leave a
            // thread idle a third of the time); a row's result does not depend on which heads share its
            // unit, so every split gives the same bits.
            let group = j.heads / j.kvHeads
            var units = 0
            for s in 0..<j.sequenceCount { units += (j.sequences[s].rows + 15) / 16 * j.kvHeads }
            if count > 1 && units < 2 * count && j.rows == j.sequenceCount {
                for s in 0..<j.sequenceCount {
                    let heads = WorkerPool.share(of: j.heads, (index + s) % count, count)
                    if !heads.isEmpty { j.run(sequence: j.sequences[s], rows: 0..<1, heads: heads) }
                }
                break
            }
            let headsPerUnit = units >= count ? group : 1
            var unit = 0
            // Each unit runs once the next one's first keys are on their way: a unit's KV rows are cold
            // (the step's weights streamed through the caches since the last step wrote them).
            var held: (sequence: BatchLayout.Sequence, rows: Range<Int>, heads: Range<Int>)?
            for s in 0..<j.sequenceCount {
                let sequence = j.sequences[s]
                for first in stride(from: 0, to: sequence.rows, by: 16) {
                    for head in stride(from: 0, to: j.heads, by: headsPerUnit) {
                        defer { unit += 1 }
                        guard unit % count == index else { continue }
                        let next = (
                            sequence: sequence, rows: first..<min(sequence.rows, first + 16),
                            heads: head..<(head + headsPerUnit)
                        )
                        j.prefetch(sequence: next.sequence, rows: next.rows, heads: next.heads)
                        if let held { j.run(sequence: held.sequence, rows: held.rows, heads: held.heads) }
                        held = next
                    }
                }
            }
            if let held { j.run(sequence: held.sequence, rows: held.rows, heads: held.heads) }
        case .read(let bytes, let sink):
            let share = WorkerPool.share(of: bytes.count / 64, index, count)
            sink[index] = swv_read_bytes(bytes.baseAddress! + share.lowerBound * 64, share.count * 64)
        case .gated(let j):
            let rows = WorkerPool.share(of: j.rows, index, count)
            let start = rows.lowerBound * j.columns
            swv_glu(j.gate + start, j.up + start, j.output + start, Int64(rows.count * j.columns), j.gelu)
        case .softcap(let x, let n, let cap):
            for i in WorkerPool.share(of: n, index, count) where x[i] != -.infinity { x[i] = cap * tanhf(x[i] / cap) }
        }
    }
}

extension Job.Attention {
    /// The KV pages of one sequence.
    func pages(_ sequence: BatchLayout.Sequence) -> swv_kv_pages {
        swv_kv_pages(
            k: keys,
            v: values,
            type: type,
            row_bytes: Int64(rowBytes),
            block_size: Int64(blockSize),
            block_table: tables + sequence.tableStart,
            key_begin: 0,
            key_end: 0,
            stats: nil,
            softcap: softcap
        )
    }

    /// Starts loading the first keys that `run` with the same arguments reads.
    func prefetch(sequence: BatchLayout.Sequence, rows: Range<Int>, heads: Range<Int>) {
        var pages = pages(sequence)
        swv_attention_prefetch(
            &pages,
            Int64(positions[sequence.firstRow + rows.lowerBound]),
            Int64(self.heads),
            Int64(kvHeads),
            Int64(headDimension),
            Int64(heads.lowerBound),
            Int64(heads.upperBound),
            Int64(window)
        )
    }

    /// Rows `rows` of one sequence (consecutive positions), heads `heads`.
    func run(sequence: BatchLayout.Sequence, rows: Range<Int>, heads: Range<Int>) {
        var pages = pages(sequence)
        let row = sequence.firstRow + rows.lowerBound
        swv_attention(
            q + row * qStride,
            Int64(qStride),
            &pages,
            output + row * outputStride,
            Int64(outputStride),
            Int64(rows.count),
            Int64(positions[row]),
            Int64(self.heads),
            Int64(kvHeads),
            Int64(headDimension),
            Int64(heads.lowerBound),
            Int64(heads.upperBound),
            Int64(window),
            scale
        )
    }
}
