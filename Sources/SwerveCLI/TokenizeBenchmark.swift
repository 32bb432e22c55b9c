import SwerveCore
import Tokenizers

/// Times `encode` on one input: `swerve tokenize --benchmark N` prints the result as one JSON object.
enum TokenizeBenchmark {
    static func run(_ tokenizer: any Tokenizer, _ text: String, addBOS: Bool, iterations: Int) -> String {
        var micros: [Double] = []
        micros.reserveCapacity(iterations)
        var count = 0
        for _ in 0..<iterations {
            micros.append(Monotonic.time { count = tokenizer.encode(text, addBOS: addBOS).count }.seconds * 1e6)
        }
        micros.sort()
        func percentile(_ p: Double) -> Double { Percentile.of(sorted: micros, p * 100) }
        func round(_ v: Double) -> Double { (v * 10).rounded() / 10 }
        let mean = micros.reduce(0, +) / Double(micros.count)
        return """
            {"tokens":\(count),"bytes":\(text.utf8.count),"iterations":\(iterations),\
            "mean_us":\(round(mean)),"p50_us":\(round(percentile(0.5))),"p99_us":\(round(percentile(0.99))),\
            "min_us":\(round(micros[0]))}
            """
    }
}
