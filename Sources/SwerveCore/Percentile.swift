/// The one percentile every report uses: linear interpolation between the closest ranks, numpy's default
/// (what `vllm bench` prints), so a Swerve p99 and a vLLM p99 of the same samples agree.
public enum Percentile {
    /// The `p`th percentile (0...100) of `sorted` (ascending); 0 for no samples.
    public static func of(sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = min(max(p, 0), 100) / 100 * Double(sorted.count - 1)
        let low = Int(rank.rounded(.down))
        let high = min(sorted.count - 1, low + 1)
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - Double(low))
    }

    /// The `p`th percentile of `values` in any order.
    public static func of(_ values: [Double], _ p: Double) -> Double { of(sorted: values.sorted(), p) }

    public static func median(_ values: [Double]) -> Double { of(values, 50) }
}
