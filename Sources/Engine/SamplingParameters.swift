/// How the next token is chosen from the logits, with OpenAI's and vLLM's meanings: temperature 0 is
/// greedy; top-k (0: off) and top-p (1: off) truncate before sampling; a seed makes sampling repeatable.
public struct SamplingParameters: Sendable, Equatable {
    public var temperature: Float
    public var topP: Float
    public var topK: Int
    public var seed: UInt64?

    public init(temperature: Float = 0, topP: Float = 1, topK: Int = 0, seed: UInt64? = nil) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.seed = seed
    }

    public static let greedy = SamplingParameters()
}
