import SwerveCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `Backend` in plain Swift over `[Float]` arrays: slow, obviously right, the oracle the CPU backend is
/// tested against (besides llama.cpp's own outputs).
///
/// The arithmetic is ggml's where that is what makes outputs comparable with llama.cpp: a matmul against
/// Q4_1 or Q8_0 weights quantizes the activations per 32-value block to 8 bits (Q8_1 or Q8_0) and sums
/// integer products per block; K and V are kept in f16 and attention's operands rounded to f16, as with
/// llama.cpp's default f16 KV cache. Other weight types are dequantized to f32 once, at load. Attention is
/// two-pass (scores, then softmax, then values), one query at a time. Open, so tests can add to a backend
/// that computes (a whole forward pass of its own, say) without writing one.
open class ReferenceBackend: Backend, @unchecked Sendable {
    public let description = "reference (plain Swift)"

    enum Weight {
        case vector([Float])
        case matrix(Matrix)
    }

    /// Per layer, `blocks * blockSize` rows of `width` values, already rounded to the cache's type.
    struct Cache {
        var blockSize: Int
        var width: Int
        var type: KVCacheType
        var keys: [[Float]]
        var values: [[Float]]
    }

    // One caller at a time, as `Backend` requires of a forward pass.
    var weights: [Weight] = []
    var activations: [[Float]] = []
    var caches: [Cache] = []

    public init() {}

    /// Row counts of every step begun (`prepare` calls), padding included: the seam's promise of one call
    /// per step, checked by the tests.
    public private(set) var preparedRows: [Int] = []

    open func prepare(_ layout: BatchLayout) {
        preparedRows.append(layout.rowCount)
    }

    open var rowBuckets: [Int] { [] }

    public func load(_ weight: TensorView) throws(BackendError) -> BackendTensor {
        guard weight.type.isDequantizable else {
            throw .unsupportedType(tensor: weight.name, type: weight.type, backend: "reference")
        }
        if weight.shape.count == 1 {
            weights.append(.vector(try! weight.dequantized()))
        } else {
            weights.append(.matrix(Matrix(weight)))
        }
        return BackendTensor(
            id: weights.count - 1,
            rows: weight.rowCount,
            columns: weight.rowLength,
            dtype: .weight(weight.type)
        )
    }

    public func makeActivations(rows: Int, columns: Int) -> BackendTensor {
        activations.append([Float](repeating: 0, count: rows * columns))
        return BackendTensor(id: activations.count - 1, rows: rows, columns: columns)
    }

    public func makeKVCache(layers: Int, blocks: Int, blockSize: Int, width: Int, type: KVCacheType) -> BackendTensor {
        let empty = [[Float]](repeating: [Float](repeating: 0, count: blocks * blockSize * width), count: layers)
        caches.append(Cache(blockSize: blockSize, width: width, type: type, keys: empty, values: empty))
        return BackendTensor(id: caches.count - 1, rows: blocks * blockSize, columns: width, dtype: .kv(type))
    }

    public func copyKVBlock(_ cache: BackendTensor, from source: Int, to destination: Int, positions: Int) {
        let c = caches[cache.id]
        let (from, to, count) = (
            source * c.blockSize * c.width, destination * c.blockSize * c.width, positions * c.width
        )
        for layer in c.keys.indices {
            caches[cache.id].keys[layer].replaceSubrange(to..<(to + count), with: c.keys[layer][from..<(from + count)])
            caches[cache.id].values[layer].replaceSubrange(
                to..<(to + count),
                with: c.values[layer][from..<(from + count)]
            )
        }
    }

    public func kvBlockBytes(_ cache: BackendTensor) -> Int {
        let c = caches[cache.id]
        return 2 * c.keys.count * c.blockSize * c.width * MemoryLayout<Float>.size
    }

    public func readKVBlock(_ cache: BackendTensor, block: Int, into destination: UnsafeMutableRawBufferPointer) {
        let c = caches[cache.id]
        let count = c.blockSize * c.width
        var floats = destination.bindMemory(to: Float.self)[...]
        for layer in c.keys.indices {
            for rows in [c.keys[layer], c.values[layer]] {
                _ = UnsafeMutableBufferPointer(rebasing: floats.prefix(count))
                    .update(fromContentsOf: rows[(block * count)..<((block + 1) * count)])
                floats = floats.dropFirst(count)
            }
        }
    }

    public func writeKVBlock(_ cache: BackendTensor, block: Int, from source: UnsafeRawBufferPointer) {
        let c = caches[cache.id]
        let count = c.blockSize * c.width
        let floats = source.bindMemory(to: Float.self)
        let range = (block * count)..<((block + 1) * count)
        for layer in c.keys.indices {
            let base = 2 * layer * count
            caches[cache.id].keys[layer].replaceSubrange(range, with: floats[base..<(base + count)])
            caches[cache.id].values[layer].replaceSubrange(range, with: floats[(base + count)..<(base + 2 * count)])
        }
    }

    func vector(_ t: BackendTensor) -> [Float] {
        guard case .vector(let v) = weights[t.id] else { preconditionFailure("tensor \(t.id) is not a vector") }
        return v
    }

    func matrix(_ t: BackendTensor) -> Matrix {
        guard case .matrix(let m) = weights[t.id] else { preconditionFailure("tensor \(t.id) is not a matrix") }
        return m
    }

    func row(_ t: BackendTensor, _ r: Int) -> [Float] {
        Array(activations[t.id][(r * t.columns)..<((r + 1) * t.columns)])
    }

    func setRow(_ t: BackendTensor, _ r: Int, _ values: [Float]) {
        activations[t.id].replaceSubrange((r * t.columns)..<((r + 1) * t.columns), with: values)
    }

    public func embed(
        _ tokens: UnsafeBufferPointer<Int32>,
        table: BackendTensor,
        scale: Float,
        into output: BackendTensor
    ) {
        let m = matrix(table)
        for (r, token) in tokens.enumerated() {
            precondition(token >= 0 && Int(token) < m.tensor.rowCount, "token \(token) outside the vocabulary")
            let values = try! m.tensor.dequantized(rows: Int(token)..<(Int(token) + 1))
            setRow(output, r, values.map { $0 * scale })
        }
    }

    public func rmsNorm(
        _ x: BackendTensor,
        rows: Int,
        weight: BackendTensor,
        epsilon: Float,
        groupSize: Int?,
        into output: BackendTensor
    ) {
        let w = vector(weight)
        let group = groupSize ?? x.columns
        for r in 0..<rows {
            var values = row(x, r)
            for start in stride(from: 0, to: values.count, by: group) {
                var meanSquare: Float = 0
                for v in values[start..<(start + group)] { meanSquare += v * v }
                meanSquare /= Float(group)
                let scale = 1 / (meanSquare + epsilon).squareRoot()
                for i in 0..<group { values[start + i] = values[start + i] * scale * w[i] }
            }
            setRow(output, r, values)
        }
    }

    public func matmul(_ x: BackendTensor, rows: Int, weights list: [BackendTensor], into outputs: [BackendTensor]) {
        for (weight, output) in zip(list, outputs) {
            let m = matrix(weight)
            for r in 0..<rows { setRow(output, r, m.apply(row(x, r))) }
        }
    }

    public func rope(
        _ x: BackendTensor,
        layout: BatchLayout,
        heads: Int,
        headDimension d: Int,
        frequencies: RoPEFrequencies,
        style: RoPEStyle
    ) {
        let f = frequencies
        for r in 0..<layout.rowCount {
            var values = row(x, r)
            let position = Float(layout.positions[r])
            let sequence = r < layout.rowSequence.count ? layout.sequences[Int(layout.rowSequence[r])] : nil
            let factors = sequence.map { f.usesLongFactors($0, in: layout) } == true ? f.longFactors : f.factors
            for head in 0..<heads {
                for i in 0..<(d / 2) {
                    let theta = f.scale * position * powf(f.base, -Float(2 * i) / Float(d)) / (factors?[i] ?? 1)
                    let (i0, i1) = style == .neox ? (i, i + d / 2) : (2 * i, 2 * i + 1)
                    let a = values[head * d + i0]
                    let b = values[head * d + i1]
                    let (c, s) = (cosf(theta) * f.attentionFactor, sinf(theta) * f.attentionFactor)
                    values[head * d + i0] = a * c - b * s
                    values[head * d + i1] = a * s + b * c
                }
            }
            setRow(x, r, values)
        }
    }

    public func attention(
        q: BackendTensor,
        k: BackendTensor,
        v: BackendTensor,
        layout: BatchLayout,
        cache: BackendTensor,
        layer: Int,
        heads: Int,
        kvHeads: Int,
        headDimension d: Int,
        window: Int?,
        scale: Float,
        softcap: Float,
        into output: BackendTensor
    ) {
        let c = caches[cache.id]
        let width = c.width
        precondition(c.blockSize == layout.blockSize, "the layout's block size is not the cache's")
        func slot(_ r: Int, _ p: Int) -> Int { layout.slot(row: r, position: p) }
        for r in 0..<layout.rowCount {
            let s = slot(r, Int(layout.positions[r]))
            caches[cache.id].keys[layer].replaceSubrange(
                s * width..<(s + 1) * width,
                with: Self.store(row(k, r), c.type)
            )
            caches[cache.id].values[layer].replaceSubrange(
                s * width..<(s + 1) * width,
                with: Self.store(row(v, r), c.type)
            )
        }
        let keys = caches[cache.id].keys[layer]
        let values = caches[cache.id].values[layer]
        let group = heads / kvHeads
        for r in 0..<layout.rowCount {
            let p = Int(layout.positions[r])
            let first = window.map { max(0, p - $0 + 1) } ?? 0
            let query = row(q, r)
            var out = [Float](repeating: 0, count: heads * d)
            for head in 0..<heads {
                let kv = (head / group) * d
                var scores: [Float] = []
                for t in first...p {
                    let base = slot(r, t) * width + kv
                    var dot: Float = 0
                    for i in 0..<d { dot += Self.half(query[head * d + i]) * keys[base + i] }
                    let score = dot * scale
                    scores.append(softcap > 0 ? softcap * tanhf(score / softcap) : score)
                }
                let maximum = scores.max()!
                let exps = scores.map { expf($0 - maximum) }
                let total = exps.reduce(0, +)
                for (j, t) in (first...p).enumerated() {
                    let weight = exps[j] / total
                    let base = slot(r, t) * width + kv
                    for i in 0..<d { out[head * d + i] += weight * values[base + i] }
                }
            }
            setRow(output, r, out)
        }
    }

    /// A key or value row as the cache keeps it: rounded to f16, or through Q8_0's blocks.
    static func store(_ x: [Float], _ type: KVCacheType) -> [Float] {
        switch type {
        case .f16: x.map(half)
        case .q8_0: Q8Block.quantize(x).flatMap { block in block.qs.map { block.d * Float($0) } }
        }
    }

    public func softcap(_ x: BackendTensor, rows: Int, cap: Float) {
        for r in 0..<rows {
            setRow(x, r, row(x, r).map { $0 == -.infinity ? $0 : cap * tanhf($0 / cap) })
        }
    }

    public func gated(
        _ gate: BackendTensor,
        _ up: BackendTensor,
        rows: Int,
        activation: GatedActivation,
        into output: BackendTensor
    ) {
        for r in 0..<rows {
            let u = row(up, r)
            let g = row(gate, r)
            setRow(
                output,
                r,
                (0..<g.count).map { i in
                    let x = g[i]
                    switch activation {
                    case .silu: return x / (1 + expf(-x)) * u[i]
                    case .geluTanh: return 0.5 * x * (1 + tanhf(0.797_884_56 * (x + 0.044715 * x * x * x))) * u[i]
                    }
                }
            )
        }
    }

    public func add(_ x: BackendTensor, rows: Int, into output: BackendTensor) {
        for i in 0..<(rows * x.columns) { activations[output.id][i] += activations[x.id][i] }
    }

    public func addBias(_ bias: BackendTensor, rows: Int, into output: BackendTensor) {
        let b = vector(bias)
        for r in 0..<rows { setRow(output, r, zip(row(output, r), b).map { $0 + $1 }) }
    }

    public func gather(_ x: BackendTensor, rows: [Int32], into output: BackendTensor) {
        for (i, r) in rows.enumerated() { setRow(output, i, row(x, Int(r))) }
    }

    public func read(_ x: BackendTensor, rows: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) {
        let start = rows.lowerBound * x.columns
        for i in 0..<(rows.count * x.columns) { destination[i] = activations[x.id][start + i] }
    }

    /// Rounds through IEEE half precision.
    @inline(__always)
    static func half(_ x: Float) -> Float { Float(Float16(x)) }
}
