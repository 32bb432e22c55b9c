import Dispatch
import Models
import SwerveCore
import Tokenizers

/// Why generation stopped, with OpenAI's names.
public enum FinishReason: String, Sendable, Codable {
    /// An end-of-generation token (EOS, end of turn).
    case stop
    /// `maxTokens` reached, or the context is full.
    case length
}

/// What one generation produced and how long it took.
public struct GenerationResult: Sendable {
    /// Generated ids, without the ending end-of-generation token.
    public var tokenIDs: [Int32]
    public var finishReason: FinishReason
    public var promptTokens: Int
    /// Prefill: the whole prompt to the first token's logits.
    public var prefillSeconds: Double
    /// Decode: each forward step after the first token (one per generated token after the first).
    public var decodeStepSeconds: [Double]

    public init(
        tokenIDs: [Int32],
        finishReason: FinishReason,
        promptTokens: Int,
        prefillSeconds: Double,
        decodeStepSeconds: [Double]
    ) {
        self.tokenIDs = tokenIDs
        self.finishReason = finishReason
        self.promptTokens = promptTokens
        self.prefillSeconds = prefillSeconds
        self.decodeStepSeconds = decodeStepSeconds
    }

    public var prefillTokensPerSecond: Double { Double(promptTokens) / prefillSeconds }
    public var decodeTokensPerSecond: Double {
        decodeStepSeconds.isEmpty ? 0 : Double(decodeStepSeconds.count) / decodeStepSeconds.reduce(0, +)
    }
}

/// Runs one sequence through a forward pass: prefill of the prompt, then one decode step per token,
/// sampling each token from the last logits. The engine's scheduler (continuous batching over a paged KV
/// cache) builds on the same forward pass; this is the single-sequence path `swerve generate` and
/// `swerve bench latency` measure. One generation at a time (`@unchecked Sendable` lets an owner hand it
/// between tasks, not run it twice at once).
public final class Generator: @unchecked Sendable {
    public let forward: any ForwardPass
    public let tokenizer: any Tokenizer
    /// Ids that end generation: EOS, end of turn, and the chat templates' end markers in the vocabulary.
    public let endOfGeneration: Set<Int32>
    public let contextLength: Int
    let cache: SequenceCache
    var logits: [Float]

    /// - Parameters:
    ///   - contextLength: most positions a sequence may use (prompt plus output); the KV cache's size.
    public init(model: ModelFile, backend: any Backend, contextLength: Int, maxBatch: Int = 512) throws {
        forward = try ModelRegistry.makeForward(gguf: model.gguf, backend: backend, maxBatch: maxBatch)
        tokenizer = model.tokenizer
        self.contextLength = contextLength
        endOfGeneration = Self.endOfGenerationIDs(model.tokenizer)
        cache = forward.makeCache(capacity: contextLength)
        logits = [Float](repeating: 0, count: forward.config.vocabularySize)
    }

    /// EOS, EOT and the end-of-turn markers chat templates use, where the vocabulary has them.
    public static func endOfGenerationIDs(_ tokenizer: any Tokenizer) -> Set<Int32> {
        var ids = Set([tokenizer.specialIDs.eos, tokenizer.specialIDs.eot].compactMap { $0.map(Int32.init) })
        let markers: Set<String> = ["<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|endoftext|>", "<|end|>"]
        for (id, text) in tokenizer.tokens.enumerated() where markers.contains(text) && tokenizer.types[id] != .normal {
            ids.insert(Int32(id))
        }
        return ids
    }

    /// Generates up to `maxTokens` tokens after `prompt` (which starts a new sequence). `onToken` sees each
    /// token as it is chosen and may return false to stop early. Stops at end-of-generation unless
    /// `ignoreEOS`.
    public func generate(
        prompt: [Int32],
        maxTokens: Int,
        sampling: SamplingParameters = .greedy,
        ignoreEOS: Bool = false,
        onToken: (Int32) -> Bool = { _ in true }
    ) throws(GenerationError) -> GenerationResult {
        guard !prompt.isEmpty else { throw .emptyPrompt }
        guard prompt.count < contextLength else {
            throw .promptTooLong(tokens: prompt.count, contextLength: contextLength)
        }
        var sampler = Sampler(sampling)
        var result = GenerationResult(
            tokenIDs: [],
            finishReason: .length,
            promptTokens: prompt.count,
            prefillSeconds: 0,
            decodeStepSeconds: []
        )
        result.tokenIDs.reserveCapacity(maxTokens)
        result.decodeStepSeconds.reserveCapacity(maxTokens)
        var start = Self.now()
        prompt.withUnsafeBufferPointer { tokens in
            logits.withUnsafeMutableBufferPointer {
                forward.forward(tokens, firstPosition: 0, cache: cache, logits: $0)
            }
        }
        result.prefillSeconds = Self.now() - start
        var position = prompt.count
        var token: Int32 = 0
        while result.tokenIDs.count < maxTokens {
            token = logits.withUnsafeBufferPointer { sampler.sample($0) }
            if !ignoreEOS && endOfGeneration.contains(token) {
                result.finishReason = .stop
                break
            }
            result.tokenIDs.append(token)
            guard onToken(token) else {
                result.finishReason = .stop
                break
            }
            guard result.tokenIDs.count < maxTokens, position < contextLength else { break }
            start = Self.now()
            withUnsafePointer(to: token) { pointer in
                logits.withUnsafeMutableBufferPointer {
                    forward.forward(
                        UnsafeBufferPointer(start: pointer, count: 1),
                        firstPosition: position,
                        cache: cache,
                        logits: $0
                    )
                }
            }
            result.decodeStepSeconds.append(Self.now() - start)
            position += 1
        }
        return result
    }

    /// Monotonic seconds.
    static func now() -> Double { Monotonic.seconds() }
}

/// Why a generation cannot start.
public enum GenerationError: Error, Equatable, CustomStringConvertible {
    case emptyPrompt
    case promptTooLong(tokens: Int, contextLength: Int)

    public var description: String {
        switch self {
        case .emptyPrompt: "the prompt is empty"
        case .promptTooLong(let tokens, let contextLength):
            "the prompt has \(tokens) tokens but the context holds \(contextLength); shorten it or raise --max-model-len"
        }
    }
}
