import Engine
import ReferenceBackend
import SwerveCore
import TestSupport
import Testing

/// Shape buckets (what CUDA-graph capture needs): a backend that asks for row counts rounded up to its
/// buckets gets every step padded to one (or run as it is past the largest), and the padding changes no
/// token any request gets.
@Suite struct RowBucketTests {
    final class Bucketing: ReferenceBackend, @unchecked Sendable {
        override var rowBuckets: [Int] { [1, 2, 4, 8, 16, 32] }
    }

    static func engine(_ backend: ReferenceBackend) throws -> EngineCore {
        try EngineCoreTests.engine(.llama, maxNumSeqs: 8, maxNumBatchedTokens: 48, backend: backend)
    }

    @Test func paddedStepsGiveTheSameTokens() throws {
        let prompts = EngineCoreTests.prompts(7, vocabulary: 60, seed: 5)
        let plain = ReferenceBackend()
        let bucketing = Bucketing()
        let expected = try EngineCoreTests.run(Self.engine(plain), prompts)
        let padded = try EngineCoreTests.run(Self.engine(bucketing), prompts)
        #expect(padded.count == prompts.count)
        for (id, answer) in expected { #expect(padded[id]?.0 == answer.0, "request \(id)") }
        // Every step ran at a bucket's size, or past the largest as it was; the plain backend saw others.
        #expect(bucketing.preparedRows.allSatisfy { bucketing.rowBuckets.contains($0) || $0 > 32 })
        #expect(plain.preparedRows.contains { !bucketing.rowBuckets.contains($0) && $0 <= 32 })
        #expect(bucketing.preparedRows.count == plain.preparedRows.count)
    }
}
