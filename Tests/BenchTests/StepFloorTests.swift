import TestSupport
import Testing

@testable import Bench

/// The floor of a step is whichever of its two limits binds: one decode row of SmolLM2 is bound by its
/// reads; eight rows, on a Zen 4 whose reads run fast, by their int8 arithmetic, and then the best
/// 8-row/1-row cost ratio exceeds 1.5.
@Suite struct StepFloorTests {
    @Test func theBindingLimitIsTheFloor() {
        let reads = StepFloor(bytes: 100_000_000, multiplyAdds: 135_000_000, bandwidth: 50e9, peak: 1000e9)
        #expect(abs(reads.readSeconds - 0.002) < 1e-12 && abs(reads.arithmeticSeconds - 0.00027) < 1e-12)
        #expect(reads.seconds == reads.readSeconds && reads.bound == "read bandwidth")
        let arithmetic = StepFloor(bytes: 100_000_000, multiplyAdds: 8 * 135_000_000, bandwidth: 50e9, peak: 500e9)
        #expect(abs(arithmetic.arithmeticSeconds - 0.00432) < 1e-12)
        #expect(arithmetic.seconds == arithmetic.arithmeticSeconds && arithmetic.bound == "int8 peak")
    }

    @Test func noMeasuredPeakLeavesOnlyTheReads() {
        let floor = StepFloor(bytes: 1_000, multiplyAdds: 1_000_000, bandwidth: 1e9, peak: 0)
        #expect(floor.arithmeticSeconds == 0 && floor.seconds == 1e-6 && floor.bound == "read bandwidth")
    }

    @Test func smolLM2OnAZen4WithFastReadsCannotReachOneAndAHalf() {
        // SmolLM2-135M Q4_1: 96.4 MB of weights, 134.5 M multiply-adds per row (the tied head included);
        // a Zen 4's two cores measured 70 GB/s and a 933 GOPS int8 peak (AVX-512 VNNI, double-pumped).
        let one = StepFloor(bytes: 96_436_224 + 1_110_000, multiplyAdds: 134_479_872, bandwidth: 70e9, peak: 933e9)
        let eight = StepFloor(
            bytes: 96_436_224 + 8 * 1_110_000,
            multiplyAdds: 8 * 134_479_872,
            bandwidth: 70e9,
            peak: 933e9
        )
        #expect(one.bound == "read bandwidth" && eight.bound == "int8 peak")
        #expect(eight.seconds / one.seconds > 1.5)
    }

    /// Where a step turns compute-bound: SmolLM2's weights read once against each row's multiply-adds.
    @Test func computeBoundRowsAreTheReadTimeInRowsOfArithmetic() throws {
        var work = DecodeWork(try SyntheticModel.llama())
        #expect(work.weightBytes > 0 && work.multiplyAdds > 0 && work.headMultiplyAdds > 0)
        work = DecodeWork(weightBytes: 96_436_224, multiplyAdds: 106_000_000, headMultiplyAdds: 28_311_552)
        // An AVX2 Zen 3 of two cores: 31 GB/s, 378 GOPS: 3.11 ms of reads, 0.71 ms of arithmetic per row.
        #expect(work.computeBoundRows(bandwidth: 31e9, peak: 378e9) == 4)
        // A Zen 4 with fast reads and AVX-512 VNNI: 70 GB/s, 933 GOPS.
        #expect(work.computeBoundRows(bandwidth: 70e9, peak: 933e9) == 4)
        #expect(work.computeBoundRows(bandwidth: 10e9, peak: 933e9) == 33)
        #expect(work.computeBoundRows(bandwidth: 1e12, peak: 100e9) == 1, "at least one row")
        #expect(work.computeBoundRows(bandwidth: 31e9, peak: 0) == .max, "no measured peak: never compute-bound")
    }
}
