import GGUF

/// The least time a forward step can take on this machine, from the two limits `swerve bench latency`
/// measures: the bytes the step must read (the weights once, each sequence's KV) at the read bandwidth, and
/// the int8 multiply-adds its matrix products must do at the int8 peak of the GEMM's level. A decode step
/// of one row is bound by the first; as rows are added its arithmetic grows with them while its reads
/// barely do, so past some batch size the second bounds it. The ratio of two steps' floors is the least
/// ratio of their costs when the smaller step runs at its floor (the CPU-kernels issue's "8 rows at ≤ 1.5×
/// one row" with one row at the read bandwidth is only reachable where the 8-row floor allows it).
public struct StepFloor: Equatable, Sendable {
    /// Seconds to read the step's bytes at the measured bandwidth.
    public var readSeconds: Double
    /// Seconds to do the step's int8 multiply-adds at the measured peak (0 when no peak was measured: the
    /// scalar level).
    public var arithmeticSeconds: Double

    /// - Parameters:
    ///   - bytes: bytes the step reads (weights + KV).
    ///   - multiplyAdds: int8 multiply-adds of the step's matrix products (rows × multiply-adds per row).
    ///   - bandwidth: bytes per second.
    ///   - peak: int8 operations (2 per multiply-add) per second.
    public init(bytes: Int, multiplyAdds: Int, bandwidth: Double, peak: Double) {
        readSeconds = bandwidth > 0 ? Double(bytes) / bandwidth : 0
        arithmeticSeconds = peak > 0 ? 2 * Double(multiplyAdds) / peak : 0
    }

    /// The step's floor: whichever limit binds (reads and arithmetic overlapping perfectly).
    public var seconds: Double { max(readSeconds, arithmeticSeconds) }

    /// Which limit binds: "read bandwidth" or "int8 peak".
    public var bound: String { arithmeticSeconds > readSeconds ? "int8 peak" : "read bandwidth" }
}

/// What decoding one token of a model reads and computes, from its GGUF: the bytes of the weights a step
/// reads once whatever its rows (matrices and the output head; the embedding only when tied to the head),
/// and the int8 multiply-adds per row of the layers' matrices and of the head.
public struct DecodeWork: Equatable, Sendable {
    public var weightBytes = 0
    public var multiplyAdds = 0
    public var headMultiplyAdds = 0

    public init(weightBytes: Int, multiplyAdds: Int, headMultiplyAdds: Int) {
        self.weightBytes = weightBytes
        self.multiplyAdds = multiplyAdds
        self.headMultiplyAdds = headMultiplyAdds
    }

    public init(_ gguf: GGUFFile) {
        let tied = gguf.info("output.weight") == nil
        for tensor in gguf.tensors where tensor.shape.count > 1 {
            let embedding = tensor.name == "token_embd.weight"
            if !embedding || tied { weightBytes += tensor.byteCount }
            if !embedding && tensor.name != "output.weight" { multiplyAdds += tensor.elementCount }
            if tensor.name == "output.weight" || (embedding && tied) { headMultiplyAdds = tensor.elementCount }
        }
    }

    /// Rows at which a decode step turns compute-bound on a machine of `bandwidth` bytes/s and `peak` int8
    /// operations/s: the most rows whose multiply-adds take no longer than reading the weights once (at
    /// least 1). Below it more rows cost almost nothing (drafts, batched sequences); past it each costs its
    /// arithmetic. `swerve` derives `disable_by_batch_size` from it.
    public func computeBoundRows(bandwidth: Double, peak: Double) -> Int {
        let row = StepFloor(bytes: 0, multiplyAdds: multiplyAdds + headMultiplyAdds, bandwidth: bandwidth, peak: peak)
        let read = StepFloor(bytes: weightBytes, multiplyAdds: 0, bandwidth: bandwidth, peak: peak)
        guard row.arithmeticSeconds > 0 else { return Int.max }
        return max(1, Int(read.readSeconds / row.arithmeticSeconds))
    }
}
