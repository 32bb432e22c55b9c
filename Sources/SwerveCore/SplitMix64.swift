/// SplitMix64: a small, fast, seedable generator. The sampler, the benchmarks' arrivals and prompts, and the
/// tests' synthetic weights all need repeatability from a seed, not cryptography.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    @inlinable public init(seed: UInt64) { state = seed }

    @inlinable public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 24 bits.
    @inlinable public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * (1.0 / Float(1 << 24)) }

    /// Uniform in (0, 1), 53 bits: never 0, so its logarithm is finite.
    @inlinable public mutating func unit() -> Double { (Double(next() >> 11) + 0.5) / Double(1 << 53) }
}
