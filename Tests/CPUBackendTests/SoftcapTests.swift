import SwerveCore
import TestSupport
import Testing

@testable import CPUBackend

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `CPUBackend.softcap` (Gemma 2's final logits), split across the threads above `inlineValues`: every
/// value is cap * tanh(x / cap), -inf (a grammar-sparse head's left-out token) stays -inf, whatever the
/// thread count and row count.
@Suite struct SoftcapTests {
    @Test(arguments: [1, 3], [(1, 100), (2, 30_000), (3, 257)])
    func capsEveryValueAndKeepsMinusInfinity(threads: Int, shape: (rows: Int, columns: Int)) {
        let backend = CPUBackend(threads: threads)
        let x = backend.makeActivations(rows: shape.rows, columns: shape.columns)
        let data = backend.activations[x.id].data
        let n = shape.rows * shape.columns
        var random = SeededRandom(seed: UInt64(n))
        let values = KernelTests.randomFloats(n, &random, range: -150...150)
        let input = (0..<n).map { i in i % 97 == 5 ? -Float.infinity : values[i] }
        for i in 0..<n { data[i] = input[i] }
        backend.softcap(x, rows: shape.rows, cap: 30)
        var wrong = 0
        for i in 0..<n {
            let expected = input[i] == -.infinity ? -.infinity : 30 * tanhf(input[i] / 30)
            if data[i] != expected { wrong += 1 }
        }
        #expect(wrong == 0, "\(wrong) of \(n) values differ")
    }
}
