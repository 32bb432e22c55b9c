import CKernels
import SwerveCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `Backend` over the `CKernels` leaf kernels on a `WorkerPool` of dedicated threads.
///
/// Weights of the block-32 types (Q4_0, Q4_1, Q5_0, Q8_0) are repacked once, at load, into memory the
/// backend owns (a `HugePageArena`, as is the KV cache: 2 MiB pages where the OS allows): groups of 16
/// rows interleaved for the tiled GEMM (`swv_pack`); the file stays the source of truth (embedding rows
/// are still read from it) and `packedBytes` says what the copies cost. Other
/// weight types are read in place from the memory-mapped file. A matrix product quantizes its input rows
/// once per activation type the weights need (Q8_S for packed weights, Q8_K for K-quants; float weights,
/// F32, F16 and BF16, read the f32 rows as they are) and splits the
/// 16-row groups of all the weights it was given across the threads, so each weight byte is read once per
/// step and q/k/v or gate/up cost one synchronisation. Small operations on a single decode row run inline
/// on the calling thread. The KV cache is paged: per layer, one pool of blocks of f16 or Q8_0 rows, which
/// sequences address through the block tables of the step's `BatchLayout`, so one attention call serves
/// every sequence of a batch.
public final class CPUBackend: Backend, BackendLimits, WorkerJob, @unchecked Sendable {
    public let description: String
    /// The kernel level this backend's matrix products run at (`swv_gemm_at`, `swv_quantize_row_at`).
    public let isa: swv_isa
    /// Bytes of repacked weight copies the backend owns.
    public private(set) var packedBytes = 0
    let pool: WorkerPool
    /// Holds the repacked weights and the KV caches (huge pages where the OS allows).
    let arena = HugePageArena()
    // Tables grow only while a model loads and sequences are created; the forward pass only reads them.
    var weights: [Weight] = []
    var activations: [Activations] = []
    var caches: [Cache] = []
    var ropeTables: [RopeTable] = []
    /// The operation the worker pool is running.
    var pending = Job.none
    /// The 16-row groups a column-restricted product computes (reused, so a step allocates nothing).
    var selectedGroups: [Int32] = []
    /// `sample`'s scratch: candidate tokens and their weights, one per vocabulary entry.
    var sampleCandidates: [Int32] = []
    var sampleProbabilities: [Float] = []

    struct Weight {
        var type: GGMLType
        var data: UnsafeRawPointer
        /// The rows repacked for the tiled GEMM (nil: the product reads `data` in place).
        var packed: UnsafeMutableRawPointer?
        var rows: Int
        var columns: Int
        var rowBytes: Int
        /// f32 values of vectors (norm weights), converted once.
        var vector: UnsafeMutablePointer<Float>?
        var name: String
        /// Keeps the file mapping `data` points into alive.
        var owner: AnyObject?
    }

    struct Activations {
        var data: UnsafeMutablePointer<Float>
        var rows: Int
        var columns: Int
        /// Room for the rows quantized to Q8_0/Q8_1/Q8_K (the largest of the three).
        var quantized: UnsafeMutableRawPointer
    }

    /// Per layer, `blocks * blockSize` rows of `rowBytes` bytes for keys, and as many for values.
    struct Cache {
        var layers: Int
        var keys: UnsafeMutableRawPointer
        var values: UnsafeMutableRawPointer
        var blocks: Int
        var blockSize: Int
        var width: Int
        var type: KVCacheType
        var rowBytes: Int
        var layerBytes: Int { blocks * blockSize * rowBytes }
    }

    /// cos/sin of each row's position for the last batch (by `BatchLayout.serial`) using this base and head size.
    struct RopeTable {
        var frequencies: RoPEFrequencies
        var headDimension: Int
        var serial: UInt64
        var capacity: Int
        var angles: UnsafeMutablePointer<Float>
    }

    /// The most worker threads a backend starts (ggml's `GGML_MAX_N_THREADS`): more is a typo, not a
    /// machine, and each costs a stack.
    public static let maxThreads = 512

    /// - Parameters:
    ///   - threads: worker threads including the caller (default: all cores; at most `maxThreads`).
    ///   - isa: the highest kernel level to use (default: the process's, `SWERVE_CPU_ISA` capped); clamped to
    ///     what this CPU supports.
    public init(threads: Int? = nil, isa: swv_isa? = nil) {
        let count = min(threads ?? Self.coreCount, Self.maxThreads)
        pool = WorkerPool(threads: count)
        self.isa = isa.map { swv_isa_clamp($0) } ?? swv_current_isa()
        let levels = Self.kernelLevels(self.isa).map { "\($0.family) \($0.level)" }.joined(separator: ", ")
        description =
            "cpu \(String(cString: swv_isa_name(self.isa))) (\(levels)), "
            + "\(pool.threadCount) thread\(pool.threadCount == 1 ? "" : "s")"
    }

    /// The kernel families and the level each runs at when `isa` is chosen (a level's table may be partial:
    /// an entry it lacks runs at the level below). The GEMM and its quantization follow the backend's own
    /// level; the other families follow the process's.
    public static func kernelLevels(_ isa: swv_isa) -> [(family: String, level: String)] {
        ["gemm", "quantize", "matmul", "attention", "norm", "glu"].map { family in
            let level = ["gemm", "quantize"].contains(family) ? isa : swv_current_isa()
            return (family, String(cString: swv_kernel_level(level, family)))
        }
    }

    /// Caps the level every kernel family of the process runs at (`swv_set_isa`, clamped to the CPU's).
    public static func capProcessLevel(_ isa: swv_isa) {
        if isa.rawValue < swv_current_isa().rawValue { swv_set_isa(isa) }
    }

    /// The level named `name` ("scalar", "avx2", "avx_vnni", "avx512", "avx512_vnni"), or nil.
    public static func isa(named name: String) -> swv_isa? {
        let level = swv_isa_from_name(name)
        return level < 0 ? nil : swv_isa(rawValue: UInt32(level))
    }

    deinit {
        for w in weights {
            w.vector?.deallocate()
        }
        for a in activations {
            a.data.deallocate()
            a.quantized.deallocate()
        }
        for t in ropeTables { t.angles.deallocate() }
    }

    /// Runs `body` once on each of the backend's threads (the caller's included): thread-local setup and
    /// instrumentation.
    public func onEveryThread(_ body: () -> Void) {
        withoutActuallyEscaping(body) { body in dispatch(.everyThread(body)) }
    }

    /// Read bandwidth in bytes per second of streaming `bytes` on all threads (best of `passes`): the
    /// physical limit of a memory-bound decode step that reads those bytes once.
    public func measureReadBandwidth(_ bytes: UnsafeRawBufferPointer, passes: Int = 5) -> Double {
        let sink = UnsafeMutablePointer<UInt64>.allocate(capacity: pool.threadCount)
        defer { sink.deallocate() }
        var best = 0.0
        for _ in 0..<passes {
            let seconds = Monotonic.time { dispatch(.read(bytes, sink: sink)) }.seconds
            best = max(best, Double(bytes.count) / seconds)
        }
        return best
    }

    /// Read bandwidth of streaming `bytes` bytes of memory like the repacked weights' (huge pages where the
    /// OS allows, written once first so no page fault is timed), on all threads, best of `passes`.
    public func measureReadBandwidth(bytes: Int, passes: Int = 5) -> Double {
        HugePageArena.withScratch(bytes: bytes) { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 1)
            return measureReadBandwidth(UnsafeRawBufferPointer(buffer), passes: passes)
        }
    }

    /// The int8 peak in operations (2 per multiply-add) per second of this backend's level on all its
    /// threads: each thread runs the level's GEMM step on registers only (`swv_int8_peak_at`), best of
    /// `passes`; 0 at the scalar level. The ceiling a prefill's GOPS is measured against.
    public func measureInt8Peak(passes: Int = 3) -> Double {
        let iterations: Int64 = 2_000_000
        let macsPerThread = Double(swv_int8_peak_at(isa, 1)) * Double(iterations)
        var best = 0.0
        for _ in 0..<passes {
            let seconds = Monotonic.time { onEveryThread { [isa] in _ = swv_int8_peak_at(isa, iterations) } }.seconds
            best = max(best, 2 * macsPerThread * Double(pool.threadCount) / seconds)
        }
        return best
    }

    /// Seconds one operation's dispatch costs on the worker pool with nothing to do (publish, every worker
    /// runs an empty share, the caller waits for all): the fixed cost of each of a step's operations
    /// (best of `passes` runs of `count`).
    public func measureDispatchOverhead(count: Int = 20_000, passes: Int = 3) -> Double {
        var best = Double.infinity
        for _ in 0..<passes {
            let seconds = Monotonic.time { for _ in 0..<count { dispatch(.none) } }.seconds
            best = min(best, seconds / Double(count))
        }
        return best
    }

    /// Online cores (sysconf), at least 1.
    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Weight types this backend multiplies by.
    public static let matrixTypes: Set<GGMLType> = [.q4_0, .q4_1, .q5_0, .q8_0, .q4_K, .q6_K, .f32, .f16, .bf16]

    public func load(_ weight: TensorView) throws(BackendError) -> BackendTensor {
        guard let data = weight.data.baseAddress else {
            throw .unsupportedType(tensor: weight.name, type: weight.type, backend: "cpu")
        }
        // A tensor loaded twice (a tied embedding and output head) is one weight, packed once.
        if let index = weights.firstIndex(where: { $0.data == data && $0.name == weight.name }) {
            return BackendTensor(
                id: index,
                rows: weights[index].rows,
                columns: weights[index].columns,
                dtype: .weight(weights[index].type)
            )
        }
        var entry = Weight(
            type: weight.type,
            data: data,
            packed: nil,
            rows: weight.rowCount,
            columns: weight.rowLength,
            rowBytes: weight.rowBytes,
            vector: nil,
            name: weight.name,
            owner: weight.owner
        )
        if weight.shape.count == 1 {
            guard weight.type.isDequantizable else {
                throw .unsupportedType(tensor: weight.name, type: weight.type, backend: "cpu")
            }
            let vector = UnsafeMutablePointer<Float>.allocate(capacity: weight.elementCount)
            try! Dequantizer.dequantize(
                weight.type,
                from: weight.data,
                count: weight.elementCount,
                into: UnsafeMutableBufferPointer(start: vector, count: weight.elementCount)
            )
            entry.vector = vector
        } else if !Self.matrixTypes.contains(weight.type) && !weight.name.hasPrefix("token_embd") {
            throw .unsupportedType(tensor: weight.name, type: weight.type, backend: "cpu")
        } else if swv_packable(Int32(weight.type.rawValue)) != 0 {
            let type = Int32(weight.type.rawValue)
            let bytes = Self.groups(entry.rows) * swv_packed_group_bytes(type, Int64(entry.columns))
            let packed = arena.allocate(bytes)
            swv_pack(type, Int64(entry.columns), data, entry.rowBytes, Int64(entry.rows), packed)
            entry.packed = packed
            packedBytes += bytes
        }
        weights.append(entry)
        return BackendTensor(
            id: weights.count - 1,
            rows: entry.rows,
            columns: entry.columns,
            dtype: .weight(entry.type)
        )
    }

    public func makeActivations(rows: Int, columns: Int) -> BackendTensor {
        let data = UnsafeMutablePointer<Float>.allocate(capacity: rows * columns)
        data.initialize(repeating: 0, count: rows * columns)
        // Room for the rows in each activation type at once, laid end to end: Q8_K (292 bytes per 256
        // values), Q8_0, Q8_1 and Q8_S (34, 36 and 48 bytes per 32).
        let perBlock32 = 34 + 36 + MemoryLayout<swv_block_q8s>.size
        let quantizedBytes = rows * (columns / 256 + 1) * 292 + rows * (columns / 32 + 1) * perBlock32
        let quantized = UnsafeMutableRawPointer.allocate(byteCount: quantizedBytes, alignment: 64)
        activations.append(Activations(data: data, rows: rows, columns: columns, quantized: quantized))
        return BackendTensor(id: activations.count - 1, rows: rows, columns: columns)
    }

    public func makeKVCache(layers: Int, blocks: Int, blockSize: Int, width: Int, type: KVCacheType) -> BackendTensor {
        let rowBytes = type.rowBytes(width: width)
        let bytes = layers * blocks * blockSize * rowBytes
        let keys = arena.allocate(bytes)
        let values = arena.allocate(bytes)
        caches.append(
            Cache(
                layers: layers,
                keys: keys,
                values: values,
                blocks: blocks,
                blockSize: blockSize,
                width: width,
                type: type,
                rowBytes: rowBytes
            )
        )
        return BackendTensor(id: caches.count - 1, rows: blocks * blockSize, columns: width, dtype: .kv(type))
    }

    public func quiesce() { pool.quiesce() }

    public func copyKVBlock(_ cache: BackendTensor, from source: Int, to destination: Int, positions: Int) {
        let c = caches[cache.id]
        precondition(positions <= c.blockSize && source < c.blocks && destination < c.blocks)
        let bytes = positions * c.rowBytes
        for layer in 0..<c.layers {
            for base in [c.keys, c.values] {
                let start = base + layer * c.layerBytes
                (start + destination * c.blockSize * c.rowBytes)
                    .copyMemory(from: start + source * c.blockSize * c.rowBytes, byteCount: bytes)
            }
        }
    }

    public func kvBlockBytes(_ cache: BackendTensor) -> Int {
        let c = caches[cache.id]
        return 2 * c.layers * c.blockSize * c.rowBytes
    }

    public func readKVBlock(_ cache: BackendTensor, block: Int, into destination: UnsafeMutableRawBufferPointer) {
        forEachKVSlice(cache, block: block, bytes: destination.count) { pool, offset, count in
            (destination.baseAddress! + offset).copyMemory(from: pool, byteCount: count)
        }
    }

    public func writeKVBlock(_ cache: BackendTensor, block: Int, from source: UnsafeRawBufferPointer) {
        forEachKVSlice(cache, block: block, bytes: source.count) { pool, offset, count in
            pool.copyMemory(from: source.baseAddress! + offset, byteCount: count)
        }
    }

    /// Block `block`'s keys then values of each layer in turn: their place in the pool and in the flat copy
    /// `readKVBlock` writes (`bytes` long, at least `kvBlockBytes`).
    func forEachKVSlice(
        _ cache: BackendTensor,
        block: Int,
        bytes: Int,
        _ body: (UnsafeMutableRawPointer, Int, Int) -> Void
    ) {
        let c = caches[cache.id]
        let count = c.blockSize * c.rowBytes
        precondition(block < c.blocks && bytes >= 2 * c.layers * count)
        var offset = 0
        for layer in 0..<c.layers {
            for base in [c.keys, c.values] {
                body(base + layer * c.layerBytes + block * count, offset, count)
                offset += count
            }
        }
    }

    /// Below this many rows, row-wise float operations run inline on the calling thread.
    static let inlineRows = 8
    /// Below this many values, element-wise operations run inline on the calling thread.
    static let inlineValues = 16384

    /// Runs `job` on every thread, or inline on this one when `inline`.
    func dispatch(_ job: Job, inline: Bool = false) {
        if inline {
            job.execute(0, 1, backend: self)
            return
        }
        pending = job
        pool.run(self)
        pending = .none
    }

    func execute(_ index: Int, _ count: Int) { pending.execute(index, count, backend: self) }

    public func embed(
        _ tokens: UnsafeBufferPointer<Int32>,
        table: BackendTensor,
        scale: Float,
        into output: BackendTensor
    ) {
        let w = weights[table.id]
        let out = activations[output.id]
        for (r, token) in tokens.enumerated() {
            precondition(token >= 0 && Int(token) < w.rows, "token \(token) outside the vocabulary of \(w.rows)")
            let row = out.data + r * out.columns
            try! Dequantizer.dequantize(
                w.type,
                from: UnsafeRawBufferPointer(start: w.data + Int(token) * w.rowBytes, count: w.rowBytes),
                count: w.columns,
                into: UnsafeMutableBufferPointer(start: row, count: w.columns)
            )
            if scale != 1 { swv_scale(row, Int64(w.columns), scale) }
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
        let job = Job.RMSNorm(
            input: activations[x.id].data,
            output: activations[output.id].data,
            weight: weights[weight.id].vector,
            columns: x.columns,
            group: groupSize ?? x.columns,
            epsilon: epsilon,
            rows: rows
        )
        dispatch(.rmsNorm(job), inline: rows < Self.inlineRows)
    }

    public func matmul(_ x: BackendTensor, rows: Int, weights list: [BackendTensor], into outputs: [BackendTensor]) {
        // Where the input quantized to each activation type starts in the scratch (-1: not needed).
        var offsets = SIMD4<Int>(repeating: -1)
        var end = 0
        var totalGroups = 0
        for t in list {
            let slot = Self.activationSlot(weights[t.id])
            if slot >= 0 && offsets[slot] < 0 {
                offsets[slot] = end
                end += rows * swv_row_bytes(Self.activationTypes[slot], Int64(x.columns))
            }
            totalGroups += Self.groups(weights[t.id].rows)
        }
        let quantize = quantize(x, rows: rows, offsets: offsets)
        dispatch(
            .matmul(
                Job.Matmul(quantize: quantize, rows: rows, weights: list, outputs: outputs, totalGroups: totalGroups)
            )
        )
    }

    /// Computes only the 16-row groups that hold `columns` (ascending) of a packed weight, after filling the
    /// output rows with -inf; an unpacked weight runs whole.
    public func matmul(
        _ x: BackendTensor,
        rows: Int,
        weight: BackendTensor,
        columns: [Int32],
        into output: BackendTensor
    ) {
        let w = weights[weight.id]
        guard let packed = w.packed else { return matmul(x, rows: rows, weights: [weight], into: [output]) }
        if selectedGroups.capacity < Self.groups(w.rows) { selectedGroups.reserveCapacity(Self.groups(w.rows)) }
        selectedGroups.removeAll(keepingCapacity: true)
        for column in columns {
            let group = column / Int32(SWV_PACK_ROWS)
            if group > (selectedGroups.last ?? -1) { selectedGroups.append(group) }
        }
        let out = activations[output.id]
        for r in 0..<rows { (out.data + r * out.columns).update(repeating: -.infinity, count: w.rows) }
        let slot = Self.activationSlot(w)
        var offsets = SIMD4<Int>(repeating: -1)
        offsets[slot] = 0
        let quantize = quantize(x, rows: rows, offsets: offsets)
        selectedGroups.withUnsafeBufferPointer { groups in
            let job = Job.SelectedGroups(
                quantize: quantize,
                slot: slot,
                rows: rows,
                type: Int32(w.type.rawValue),
                packed: packed,
                weightRows: w.rows,
                groups: groups.baseAddress!,
                groupCount: groups.count,
                output: out.data,
                outputStride: out.columns
            )
            dispatch(.selectedGroups(job), inline: groups.count < 2 * pool.threadCount)
        }
    }

    /// Quantizes the first `rows` rows of `x` once into each activation type whose offset is set; the
    /// product jobs read them there.
    func quantize(_ x: BackendTensor, rows: Int, offsets: SIMD4<Int>) -> Job.Quantize {
        let input = activations[x.id]
        let job = Job.Quantize(
            input: input.data,
            columns: x.columns,
            quantized: input.quantized,
            offsets: offsets,
            isa: isa
        )
        dispatch(.quantize(job, rows: rows), inline: rows < Self.inlineRows)
        return job
    }

    /// 16-row groups (`SWV_PACK_ROWS`) of a weight of `rows` rows: the unit the threads split.
    @inline(__always)
    static func groups(_ rows: Int) -> Int { (rows + Int(SWV_PACK_ROWS) - 1) / Int(SWV_PACK_ROWS) }

    /// Q8_0, Q8_1, Q8_K, Q8_S: the activation types, indexed by `activationSlot`.
    static let activationTypes: SIMD4<Int32> = [
        Int32(SWV_TYPE_Q8_0), Int32(SWV_TYPE_Q8_1), Int32(SWV_TYPE_Q8_K), Int32(SWV_TYPE_Q8_S),
    ]

    /// The slot of the activation type `swv_activation_type` pairs with the weight as loaded; -1 for a float
    /// weight, whose product reads the f32 activations as they are.
    @inline(__always)
    static func activationSlot(_ weight: Weight) -> Int {
        let type = swv_activation_type(Int32(weight.type.rawValue), weight.packed == nil ? 0 : 1)
        if type == SWV_TYPE_F32 { return -1 }
        for slot in 0..<4 where activationTypes[slot] == type { return slot }
        preconditionFailure("no activation type for \(weight.type)")
    }

    public func rope(
        _ x: BackendTensor,
        layout: BatchLayout,
        heads: Int,
        headDimension d: Int,
        frequencies: RoPEFrequencies,
        style: RoPEStyle
    ) {
        let job = Job.Rope(
            data: activations[x.id].data,
            columns: x.columns,
            heads: heads,
            headDimension: d,
            angles: ropeAngles(frequencies, headDimension: d, layout: layout),
            neox: style == .neox ? 1 : 0,
            rows: layout.rowCount
        )
        dispatch(.rope(job), inline: layout.rowCount < Self.inlineRows)
    }

    /// The cos/sin table of the layout's row positions, computed once per batch and reused across heads and
    /// layers.
    func ropeAngles(
        _ frequencies: RoPEFrequencies,
        headDimension d: Int,
        layout: BatchLayout
    ) -> UnsafeMutablePointer<Float> {
        let index: Int
        if let found = ropeTables.firstIndex(where: { $0.frequencies == frequencies && $0.headDimension == d }) {
            index = found
        } else {
            precondition((frequencies.factors?.count ?? d / 2) == d / 2, "RoPE needs one factor per pair")
            ropeTables.append(
                RopeTable(
                    frequencies: frequencies,
                    headDimension: d,
                    serial: 0,
                    capacity: 0,
                    angles: UnsafeMutablePointer<Float>.allocate(capacity: 1)
                )
            )
            index = ropeTables.count - 1
        }
        let count = layout.rowCount
        if ropeTables[index].serial == layout.serial { return ropeTables[index].angles }
        if ropeTables[index].capacity < count {
            ropeTables[index].angles.deallocate()
            ropeTables[index].angles = UnsafeMutablePointer<Float>.allocate(capacity: count * d)
            ropeTables[index].capacity = count
        }
        let angles = ropeTables[index].angles
        let f = frequencies
        layout.positions.withUnsafeBufferPointer { positions in
            func fill(_ rows: Range<Int>, _ factors: [Float]?) {
                func run(_ factors: UnsafePointer<Float>?) {
                    for i in rows {
                        swv_rope_angles_scaled(
                            angles + i * d,
                            Int64(d),
                            Int64(positions[i]),
                            f.base,
                            f.scale,
                            factors,
                            f.attentionFactor
                        )
                    }
                }
                if let factors { factors.withUnsafeBufferPointer { run($0.baseAddress) } } else { run(nil) }
            }
            fill(0..<count, f.factors)
            if f.longFactors != nil {
                for s in layout.sequences where f.usesLongFactors(s, in: layout) {
                    fill(s.firstRow..<(s.firstRow + s.rows), f.longFactors)
                }
            }
        }
        ropeTables[index].serial = layout.serial
        return angles
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
        let keys = c.keys + layer * c.layerBytes
        let values = c.values + layer * c.layerBytes
        let kData = activations[k.id].data
        let vData = activations[v.id].data
        let type = Int32(c.type == .q8_0 ? SWV_TYPE_Q8_0 : SWV_TYPE_F16)
        precondition(c.blockSize == layout.blockSize, "the layout's block size is not the cache's")
        for r in 0..<layout.rowCount {
            let slot = layout.slot(row: r, position: Int(layout.positions[r]))
            precondition(slot >= 0 && slot < c.blocks * c.blockSize, "KV slot \(slot) outside the pool")
            swv_kv_store(type, kData + r * k.columns, keys + slot * c.rowBytes, Int64(c.width))
            swv_kv_store(type, vData + r * v.columns, values + slot * c.rowBytes, Int64(c.width))
        }
        layout.positions.withUnsafeBufferPointer { positions in
            layout.sequences.withUnsafeBufferPointer { sequences in
                layout.blockTables.withUnsafeBufferPointer { tables in
                    let job = Job.Attention(
                        q: activations[q.id].data,
                        qStride: q.columns,
                        keys: keys,
                        values: values,
                        type: type,
                        rowBytes: c.rowBytes,
                        blockSize: c.blockSize,
                        positions: positions.baseAddress!,
                        sequences: sequences.baseAddress!,
                        sequenceCount: sequences.count,
                        tables: tables.baseAddress!,
                        output: activations[output.id].data,
                        outputStride: output.columns,
                        rows: layout.rowCount,
                        heads: heads,
                        kvHeads: kvHeads,
                        headDimension: d,
                        window: window ?? 0,
                        scale: scale,
                        softcap: softcap
                    )
                    dispatch(.attention(job))
                }
            }
        }
    }

    /// Split across the threads: one Gemma 2 row is 256,000 logits, a tanh each.
    public func softcap(_ x: BackendTensor, rows: Int, cap: Float) {
        let t = activations[x.id]
        dispatch(.softcap(t.data, count: rows * t.columns, cap: cap), inline: rows * t.columns < Self.inlineValues)
    }

    public func gated(
        _ gate: BackendTensor,
        _ up: BackendTensor,
        rows: Int,
        activation: GatedActivation,
        into output: BackendTensor
    ) {
        let job = Job.Gated(
            gate: activations[gate.id].data,
            up: activations[up.id].data,
            output: activations[output.id].data,
            columns: gate.columns,
            gelu: activation == .geluTanh ? 1 : 0,
            rows: rows
        )
        dispatch(.gated(job), inline: rows < Self.inlineRows)
    }

    public func add(_ x: BackendTensor, rows: Int, into output: BackendTensor) {
        swv_add(activations[x.id].data, activations[output.id].data, Int64(rows * x.columns))
    }

    public func addBias(_ bias: BackendTensor, rows: Int, into output: BackendTensor) {
        let (b, out) = (weights[bias.id].vector!, activations[output.id].data)
        for r in 0..<rows { swv_add(b, out + r * output.columns, Int64(output.columns)) }
    }

    public func gather(_ x: BackendTensor, rows: [Int32], into output: BackendTensor) {
        let (from, to) = (activations[x.id].data, activations[output.id].data)
        for (i, r) in rows.enumerated() {
            (to + i * output.columns).update(from: from + Int(r) * x.columns, count: x.columns)
        }
    }

    public func read(_ x: BackendTensor, rows: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) {
        destination.baseAddress!.update(
            from: activations[x.id].data + rows.lowerBound * x.columns,
            count: rows.count * x.columns
        )
    }

    /// Chooses in place, on the rows the output head wrote: nothing is copied but the tokens (and the
    /// log-probabilities asked for). Scratch for the candidates is the backend's, sized once per
    /// vocabulary, so a step allocates nothing.
    public func sample(
        _ logits: BackendTensor,
        _ requests: UnsafeBufferPointer<RowSampling>,
        masks: UnsafeBufferPointer<UInt64>,
        into chosen: UnsafeMutableBufferPointer<SampledToken>,
        top: UnsafeMutableBufferPointer<SampledToken>,
        topStride: Int
    ) {
        let n = logits.columns
        if sampleCandidates.count < n {
            sampleCandidates = [Int32](repeating: 0, count: n)
            sampleProbabilities = [Float](repeating: 0, count: n)
        }
        let data = activations[logits.id].data
        sampleCandidates.withUnsafeMutableBufferPointer { candidates in
            sampleProbabilities.withUnsafeMutableBufferPointer { probabilities in
                RowSampling.chooseAll(
                    requests,
                    masks: masks,
                    candidates: candidates,
                    probabilities: probabilities,
                    into: chosen,
                    top: top,
                    topStride: topStride
                ) { UnsafeMutableBufferPointer(start: data + $0.row * n, count: n) }
            }
        }
    }
}
