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
