/// A tensor a backend holds: a weight it loaded, an activation buffer or a paged KV cache it allocated.
///
/// Only the backend that made it may use it. Activations are `rows` tokens of `columns` values of their
/// `dtype`; an operation given `rows: n` works on the first `n` rows, so one buffer sized for the largest
/// batch serves every batch.
public struct BackendTensor: Hashable, Sendable {
    public let id: Int
    public let rows: Int
    public let columns: Int
    public let dtype: TensorDType

    public init(id: Int, rows: Int, columns: Int, dtype: TensorDType = .f32) {
        self.id = id
        self.rows = rows
        self.columns = columns
        self.dtype = dtype
    }
}

/// What a backend tensor holds: activations in f32, f16 or bf16 (a device backend may keep a step's
/// activations in half precision), a weight in its file's type, or a KV cache's element type.
public enum TensorDType: Hashable, Sendable, CustomStringConvertible {
    case f32
    case f16
    case bf16
    case weight(GGMLType)
    case kv(KVCacheType)

    public var description: String {
        switch self {
        case .f32: "f32"
        case .f16: "f16"
        case .bf16: "bf16"
        case .weight(let type): "\(type)"
        case .kv(let type): "kv \(type.rawValue)"
        }
    }
}

/// RoPE's rotation frequencies: pair i of a head of d values turns by
/// position · scale · base^(−2i/d) / factors[i], its two values multiplied by `attentionFactor` as well.
/// `scale` is 1 over a linear scaling factor (`rope.scaling.factor`); `factors` are per-pair divisors
/// (Llama 3's smoothed scaling: a GGUF's `rope_freqs` tensor; YaRN's blend of interpolated and
/// extrapolated frequencies), nil for none; `attentionFactor` is YaRN's mscale (1 otherwise).
public struct RoPEFrequencies: Sendable, Equatable {
    public var base: Float
    public var scale: Float
    public var factors: [Float]?
    public var attentionFactor: Float
    /// LongRoPE (Phi-3's long-context models): a sequence whose rows in a step reach past `longFrom`
    /// positions (a position + 1 above it) turns at `longFactors` instead of `factors` in that step, as
    /// transformers and vLLM choose per forward pass.
    public var longFactors: [Float]?
    public var longFrom: Int

    public init(
        base: Float,
        scale: Float = 1,
        factors: [Float]? = nil,
        attentionFactor: Float = 1,
        longFactors: [Float]? = nil,
        longFrom: Int = .max
    ) {
        self.base = base
        self.scale = scale
        self.factors = factors
        self.attentionFactor = attentionFactor
        self.longFactors = longFactors
        self.longFrom = longFrom
    }

    /// Whether `sequence`'s rows of `layout` turn at `longFactors` this step.
    public func usesLongFactors(_ sequence: BatchLayout.Sequence, in layout: BatchLayout) -> Bool {
        guard longFactors != nil else { return false }
        return (sequence.firstRow..<(sequence.firstRow + sequence.rows)).contains {
            Int(layout.positions[$0]) + 1 > longFrom
        }
    }
}

/// How RoPE pairs a head's values: adjacent (x[2i], x[2i+1]) as GGUF stores llama's q/k, or the two halves
/// (x[i], x[i + d/2]) as NeoX-style architectures (Gemma) expect.
public enum RoPEStyle: Sendable {
    case adjacentPairs
    case neox
}

/// The activation of a gated feed-forward layer: SwiGLU (`silu`) or GeGLU with the tanh approximation.
public enum GatedActivation: Sendable {
    case silu
    case geluTanh
}

/// What runs a model's arithmetic: it owns its buffers (weights, activations, KV caches) and runs whole
/// batched operations over them, so the forward pass of every architecture is written once, as calls to
/// this protocol, and a backend (plain Swift reference, CPU kernels, later CUDA loaded at run time) only
/// provides the operations.
///
/// Operations run in the order they are called; `read` returns once everything before it is done.
public protocol Backend: AnyObject, Sendable {
    /// What runs the operations, for logs ("cpu avx2, 2 threads").
    var description: String { get }

    /// Makes a weight (matrix or vector) from a model file usable.
    func load(_ weight: TensorView) throws(BackendError) -> BackendTensor
    /// An f32 activation buffer of `rows` × `columns`.
    func makeActivations(rows: Int, columns: Int) -> BackendTensor
    /// An activation buffer of `rows` × `columns` of `dtype` (f32, f16 or bf16); a backend refuses a type
    /// its operations do not take (the default takes f32 only).
    func makeActivations(rows: Int, columns: Int, dtype: TensorDType) throws(BackendError) -> BackendTensor
    /// A paged KV cache: per layer, a pool of `blocks` blocks of `blockSize` positions of `width` keys and
    /// `width` values of `type`. Sequences address it through the block tables of a `BatchLayout`.
    func makeKVCache(layers: Int, blocks: Int, blockSize: Int, width: Int, type: KVCacheType) -> BackendTensor

    /// Rows of `table` for each token, times `scale`, into `output`.
    func embed(_ tokens: UnsafeBufferPointer<Int32>, table: BackendTensor, scale: Float, into output: BackendTensor)
    /// RMS normalization of each group of `groupSize` values (a whole row when nil) of the first `rows` rows,
    /// times `weight` (length `groupSize`), into `output` (may be `x`).
    func rmsNorm(
        _ x: BackendTensor,
        rows: Int,
        weight: BackendTensor,
        epsilon: Float,
        groupSize: Int?,
        into output: BackendTensor
    )
    /// outputs[i] = x · weights[i]ᵀ for the first `rows` rows; one call for projections that share an input.
    func matmul(_ x: BackendTensor, rows: Int, weights: [BackendTensor], into outputs: [BackendTensor])
    /// output = x · weightᵀ for the first `rows` rows, needed only at the output columns (weight rows)
    /// `columns`: those hold exactly what `matmul` gives them, every other column -inf or its true value
    /// (a backend may compute more than asked). The grammar-sparse output head: when every sampled row of a
    /// step is constrained to a few tokens, only their rows of the head are read.
    func matmul(_ x: BackendTensor, rows: Int, weight: BackendTensor, columns: [Int32], into output: BackendTensor)
    /// Rotates each head of each of the layout's rows in place, at that row's position.
    func rope(
        _ x: BackendTensor,
        layout: BatchLayout,
        heads: Int,
        headDimension: Int,
        frequencies: RoPEFrequencies,
        style: RoPEStyle
    )
    /// Stores each row's keys and values in `cache`'s layer `layer` at its position (through its sequence's
    /// block table), then runs causal grouped-query attention of each row's query over its own sequence's
    /// positions up to its own (the last `window` only, if given), scores scaled by `scale` (then, with a
    /// `softcap` above 0, each score s becomes softcap · tanh(s / softcap): Gemma 2), into `output`.
    func attention(
        q: BackendTensor,
        k: BackendTensor,
        v: BackendTensor,
        layout: BatchLayout,
        cache: BackendTensor,
        layer: Int,
        heads: Int,
        kvHeads: Int,
        headDimension: Int,
        window: Int?,
        scale: Float,
        softcap: Float,
        into output: BackendTensor
    )
    /// x = cap · tanh(x / cap) elementwise over the first `rows` rows, -inf kept (a column the grammar-sparse
    /// head skipped stays skipped): Gemma 2's final logit soft-capping.
    func softcap(_ x: BackendTensor, rows: Int, cap: Float)
    /// output = activation(gate) * up, elementwise, first `rows` rows.
    func gated(
        _ gate: BackendTensor,
        _ up: BackendTensor,
        rows: Int,
        activation: GatedActivation,
        into output: BackendTensor
    )
    /// output += x, first `rows` rows.
    func add(_ x: BackendTensor, rows: Int, into output: BackendTensor)
    /// output[r] += bias for each of the first `rows` rows (`bias` a vector weight as long as a row): the
    /// q/k/v biases of Qwen2.
    func addBias(_ bias: BackendTensor, rows: Int, into output: BackendTensor)
    /// Copies rows `rows` of `x`, in order, into rows 0..<rows.count of `output`.
    func gather(_ x: BackendTensor, rows: [Int32], into output: BackendTensor)
    /// Copies rows `rows` of `x` into host memory.
    func read(_ x: BackendTensor, rows: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>)
    /// Chooses one token for each of `requests` from its row of `logits`, where the logits are: the
    /// grammar's bitmask, greedy or seeded sampling, log-probabilities when asked (`RowSampling.choose`,
    /// which every backend runs bit for bit), so a step brings tokens to the host, not whole rows of
    /// logits. Rows may be changed in place. `masks` holds the bitmasks the requests point into; `top` has
    /// `topStride` entries per request for its most likely tokens. The default reads each row to the host
    /// and chooses there.
    func sample(
        _ logits: BackendTensor,
        _ requests: UnsafeBufferPointer<RowSampling>,
        masks: UnsafeBufferPointer<UInt64>,
        into chosen: UnsafeMutableBufferPointer<SampledToken>,
        top: UnsafeMutableBufferPointer<SampledToken>,
        topStride: Int
    )
    /// Copies the keys and values of the first `positions` positions of block `source` to block
    /// `destination` in every layer of `cache` (a sequence forked from another gets its own copy of the
    /// shared, partly filled last block; vLLM's copy-on-write).
    func copyKVBlock(_ cache: BackendTensor, from source: Int, to destination: Int, positions: Int)
    /// Bytes one block of `cache` takes, keys and values of every layer: what `readKVBlock` writes.
    func kvBlockBytes(_ cache: BackendTensor) -> Int
    /// Copies block `block`'s keys and values of every layer to `destination` (`kvBlockBytes` bytes, in the
    /// backend's own layout): a cached block leaving the pool for a lower tier of the KV cache.
    func readKVBlock(_ cache: BackendTensor, block: Int, into destination: UnsafeMutableRawBufferPointer)
    /// The reverse of `readKVBlock`: a block loaded back from a lower tier instead of recomputed.
    func writeKVBlock(_ cache: BackendTensor, block: Int, from source: UnsafeRawBufferPointer)
    /// No work is coming for a while: release whatever the backend keeps busy between operations (CPU
    /// worker threads spinning for the next step).
    func quiesce()
    /// A step begins: `layout` holds its tokens, positions, block tables and logits rows, and stays
    /// unchanged until the step's `read`. Called once per step, before its operations, so a device backend
    /// copies the step's metadata over once instead of with every operation. A host backend, which reads
    /// the layout in place, has nothing to do (the default).
    func prepare(_ layout: BatchLayout)
    /// Row counts a step's layout is padded up to, ascending (the shapes a CUDA graph was captured at); a
    /// step with more rows than the largest runs as it is. Empty (the default): no padding. Padding rows are
    /// one sequence of their own in KV blocks no request owns, with no logits rows, so they change nothing
    /// any request computes.
    var rowBuckets: [Int] { get }
}

extension Backend {
    /// Copies the first `rows` rows of `x` into host memory.
    public func read(_ x: BackendTensor, rows: Int, into destination: UnsafeMutableBufferPointer<Float>) {
        read(x, rows: 0..<rows, into: destination)
    }

    public func sample(
        _ logits: BackendTensor,
        _ requests: UnsafeBufferPointer<RowSampling>,
        masks: UnsafeBufferPointer<UInt64>,
        into chosen: UnsafeMutableBufferPointer<SampledToken>,
        top: UnsafeMutableBufferPointer<SampledToken>,
        topStride: Int
    ) {
        let n = logits.columns
        let row = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        let candidates = UnsafeMutableBufferPointer<Int32>.allocate(capacity: n)
        let probabilities = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer {
            row.deallocate()
            candidates.deallocate()
            probabilities.deallocate()
        }
        RowSampling.chooseAll(
            requests,
            masks: masks,
            candidates: candidates,
            probabilities: probabilities,
            into: chosen,
            top: top,
            topStride: topStride
        ) { request in
            read(logits, rows: request.row..<(request.row + 1), into: row)
            return row
        }
    }

    public func quiesce() {}
    public func prepare(_ layout: BatchLayout) {}
    public var rowBuckets: [Int] { [] }

    public func makeActivations(rows: Int, columns: Int, dtype: TensorDType) throws(BackendError) -> BackendTensor {
        guard dtype == .f32 else { throw .unsupportedActivations(dtype, backend: description) }
        return makeActivations(rows: rows, columns: columns)
    }

    public func matmul(
        _ x: BackendTensor,
        rows: Int,
        weight: BackendTensor,
        columns: [Int32],
        into output: BackendTensor
    ) {
        matmul(x, rows: rows, weights: [weight], into: [output])
    }
}

/// A backend's own measure of the limits its figures are read against (`swerve bench latency` prints each
/// figure as a share of them): read bandwidth of memory like its weights', its int8 peak, the fixed cost of
/// one operation, and the memory its own copies of the weights take.
public protocol BackendLimits: Sendable {
    /// Bytes per second of streaming `bytes` bytes, best of `passes`.
    func measureReadBandwidth(bytes: Int, passes: Int) -> Double
    /// Int8 operations per second (2 per multiply-add) of its matrix level, best of `passes`.
    func measureInt8Peak(passes: Int) -> Double
    /// Seconds one operation costs with nothing to do.
    func measureDispatchOverhead(count: Int, passes: Int) -> Double
    /// Bytes of weight copies the backend made at load (repacked layouts, device memory).
    var packedBytes: Int { get }
}

/// Why a backend cannot take a weight.
public enum BackendError: Error, Equatable, CustomStringConvertible {
    case unsupportedType(tensor: String, type: GGMLType, backend: String)
    case unsupportedActivations(TensorDType, backend: String)

    public var description: String {
        switch self {
        case .unsupportedType(let tensor, let type, let backend):
            "tensor '\(tensor)' has type \(type), which the \(backend) backend cannot multiply by"
        case .unsupportedActivations(let dtype, let backend):
            "the \(backend) backend keeps activations in f32 only, not \(dtype)"
        }
    }
}
