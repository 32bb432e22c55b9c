import Foundation

/// llama.cpp's greedy continuations and last-position logits on the same GGUF files
/// (scripts/make-fixtures.py, flash attention off, f16 KV cache, 2 threads): the forward pass's referee.
public struct GreedyFixture: Decodable, Sendable {
    public struct Case: Decodable, Sendable {
        public var model: String
        public var kind: String
        public var prompt: String
        public var prompt_ids: [Int]
        public var greedy_ids: [Int]
        /// The 40 largest last-position logits as [id, logit] pairs.
        public var top_logits: [[Double]]
        /// All last-position logits as little-endian f16, SmolLM2 only.
        public var logits_f16: String?

        /// `logits_f16` decoded.
        public var fullLogits: [Float]? {
            logits_f16.flatMap { Data(base64Encoded: $0) }.map { data in
                data.withUnsafeBytes { raw in raw.bindMemory(to: Float16.self).map(Float.init) }
            }
        }
    }

    public var cases: [Case]

    /// The committed fixture.
    public static let shared = try! loadFixture("llamacpp-greedy", as: GreedyFixture.self, in: .module)

    public static func cases(model: String) -> [Case] { shared.cases.filter { $0.model == model } }
}

/// Tiny random-weight models of the architectures beyond llama and Gemma 3 (`arch-<name>.gguf`, Q8_0
/// matrices) with two referees' last-position logits and greedy continuations on them: transformers on the
/// same (dequantized) weights and llama.cpp on the GGUF (scripts/make-arch-fixtures.py).
public struct ArchitectureFixture: Decodable, Sendable {
    public struct Case: Decodable, Sendable {
        public var architecture: String
        public var file: String
        public var prompt_ids: [Int]
        public var transformers_logits: [Float]
        public var transformers_greedy: [Int]
        public var llamacpp_logits: [Float]
        public var llamacpp_greedy: [Int]
    }

    public var generator: String
    public var cases: [Case]

    /// The committed fixture.
    public static let shared = try! loadFixture("arch-fixtures", as: ArchitectureFixture.self, in: .module)

    /// Path of a committed model file.
    public static func path(of file: String) -> String {
        Bundle.module.url(forResource: file, withExtension: nil, subdirectory: "Fixtures")!.path
    }
}

/// Tiny checkpoints with a sliding window or scaled RoPE and transformers' outputs on them
/// (scripts/make-scaling-fixtures.py): `scaled-fixtures.json`, the checkpoints in `scaled-<name>-hf/`.
public struct ScalingFixture: Decodable, Sendable {
    public struct Case: Decodable, Sendable {
        public var model: String
        public var directory: String
        public var prompt_ids: [Int]
        public var transformers_logits: [Float]
        public var transformers_greedy: [Int]
    }

    public var generator: String
    public var cases: [Case]

    /// The committed fixture.
    public static let shared = try! loadFixture("scaled-fixtures", as: ScalingFixture.self, in: .module)
}
