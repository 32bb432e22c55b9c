import Models
import SwerveCore

/// Runs a forward pass against llama.cpp's fixture the way both backends' tests do.
///
/// llama.cpp is not bit-stable against itself: evaluating the same prompt token by token instead of in one
/// batch moves its last-position logits by up to a standard deviation of 0.12 (max 0.8), and turning flash
/// attention on by 0.11–0.17 (max 1.07), on these prompts (scripts/llamacpp-noise-floor.py). So a backend
/// must land inside that noise floor (`maxSpread`, `maxDifference`), and may pick a different greedy token
/// only where its two candidates are closer than `tieMargin`, less than llama.cpp moves a logit itself.
public enum Referee {
    /// Logit gap below which two tokens count as tied (within llama.cpp's own run-to-run variation).
    public static let tieMargin: Float = 1.0
    /// Largest standard deviation of last-position logit differences from llama.cpp.
    public static let maxSpread = 0.2
    /// Largest single logit difference from llama.cpp.
    public static let maxDifference = 1.5

    /// Standard deviation and largest magnitude of the differences ours − theirs.
    public static func difference(_ ours: [Float], _ theirs: [Float]) -> (spread: Double, worst: Double) {
        let diffs = zip(ours, theirs).map { Double($0) - Double($1) }
        let mean = diffs.reduce(0, +) / Double(diffs.count)
        let variance = diffs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(diffs.count)
        return (variance.squareRoot(), diffs.map(abs).max() ?? 0)
    }

    /// Our last-position logits against the fixture's: all of them where the fixture has them (SmolLM2),
    /// else llama.cpp's 40 largest.
    public static func promptDifference(_ c: GreedyFixture.Case, logits: [Float]) -> (spread: Double, worst: Double) {
        if let full = c.fullLogits { return difference(logits, full) }
        return difference(c.top_logits.map { logits[Int($0[0])] }, c.top_logits.map { Float($0[1]) })
    }

    /// One sequence on `forward`: runs tokens and returns the last logits.
    public final class Session {
        public let forward: any ForwardPass
        let cache: SequenceCache
        public private(set) var position = 0
        public private(set) var logits: [Float]

        public init(_ forward: any ForwardPass, capacity: Int = 1024) {
            self.forward = forward
            cache = forward.makeCache(capacity: capacity)
            logits = [Float](repeating: 0, count: forward.config.vocabularySize)
        }

        @discardableResult
        public func run(_ tokens: [Int]) -> [Float] {
            let ids = tokens.map(Int32.init)
            ids.withUnsafeBufferPointer { ids in
                logits.withUnsafeMutableBufferPointer {
                    forward.forward(ids, firstPosition: position, cache: cache, logits: $0)
                }
            }
            position += tokens.count
            return logits
        }

        public var argmax: Int { logits.indices.max { logits[$0] < logits[$1] }! }
    }

    /// What following llama.cpp's greedy path showed.
    public struct PathReport: CustomStringConvertible {
        /// Steps where our greedy choice equals llama.cpp's.
        public var identical = 0
        /// Steps where it differs, with our logit gap between the two choices.
        public var differences: [(step: Int, ours: Int, theirs: Int, gap: Float)] = []
        /// Free running: our tokens.
        public var generated: [Int] = []

        public var description: String {
            "\(identical)/\(identical + differences.count) identical"
                + differences.map { " [step \($0.step): ours \($0.ours), llama.cpp \($0.theirs), gap \($0.gap)]" }
                .joined()
        }
    }

    /// Feeds llama.cpp's greedy tokens (teacher forcing) and compares our choice at each step.
    public static func teacherForced(_ session: Session, expected: [Int]) -> PathReport {
        var report = PathReport()
        for (step, theirs) in expected.enumerated() {
            let ours = session.argmax
            if ours == theirs {
                report.identical += 1
            } else {
                report.differences.append((step, ours, theirs, session.logits[ours] - session.logits[theirs]))
            }
            session.run([theirs])
        }
        return report
    }

    /// Generates greedily on our own and compares with llama.cpp's tokens up to the first difference (after
    /// which the continuations are different texts).
    public static func freeRunning(_ session: Session, expected: [Int]) -> PathReport {
        var report = PathReport()
        for (step, theirs) in expected.enumerated() {
            let ours = session.argmax
            report.generated.append(ours)
            if ours == theirs {
                report.identical += 1
            } else {
                report.differences.append((step, ours, theirs, session.logits[ours] - session.logits[theirs]))
                break
            }
            session.run([ours])
        }
        return report
    }
}
