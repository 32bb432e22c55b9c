import SwerveCore

/// vLLM's `--speculative-config`: which proposer drafts tokens for unconstrained sequences and how many a
/// step may verify. The drafts ride the same path as jump-forward's (the scheduler budgets them, the next
/// forward pass computes a logits row for each, sampling keeps them while it picks them), so the output is
/// token for token what decoding without speculation gives, greedy or seeded.
///
/// Implemented: `"ngram"` (prompt lookup over the sequence's own prompt and output, `NgramProposer`), with
/// vLLM's fields `num_speculative_tokens`, `prompt_lookup_max`, `prompt_lookup_min` (defaulting to
/// `prompt_lookup_max`, as vLLM does). vLLM's other methods (`suffix`, `draft_model`, `eagle`, `mtp`…) are
/// refused at startup with that reason, as is any field this build would ignore.
public struct SpeculativeConfig: Sendable, Equatable {
    public enum Method: String, Sendable, Equatable {
        case ngram
    }

    public var method: Method
    /// Draft tokens proposed at once for one sequence (1...64).
    public var numSpeculativeTokens: Int
    /// The longest and shortest suffix of the sequence looked up earlier in it.
    public var promptLookupMax: Int
    public var promptLookupMin: Int

    /// Most draft tokens one proposal may hold.
    public static let maxSpeculativeTokens = 64

    public init(
        method: Method = .ngram,
        numSpeculativeTokens: Int,
        promptLookupMax: Int,
        promptLookupMin: Int? = nil
    )
        throws(EngineError)
    {
        self.method = method
        self.numSpeculativeTokens = numSpeculativeTokens
        self.promptLookupMax = promptLookupMax
        self.promptLookupMin = promptLookupMin ?? promptLookupMax
        try validate()
    }

    /// Parses `--speculative-config`'s JSON object; every error names the field.
    public init(json: String) throws(EngineError) {
        let value: JSONValue
        do { value = try JSONValue.parse(json) } catch {
            throw .configuration("--speculative-config is not valid JSON: \(error.message) at byte \(error.offset)")
        }
        guard let fields = value.object else { throw .configuration("--speculative-config must be a JSON object") }
        let known: Set<String> = ["method", "num_speculative_tokens", "prompt_lookup_max", "prompt_lookup_min"]
        if let unknown = fields.first(where: { !known.contains($0.0) }) {
            throw .configuration(
                "--speculative-config field '\(unknown.0)' is not supported by this build (it knows "
                    + known.sorted().joined(separator: ", ") + ")"
            )
        }
        func integer(_ key: String) throws(EngineError) -> Int? {
            guard let field = value[key] else { return nil }
            guard let number = field.integer else {
                throw .configuration("--speculative-config field '\(key)' must be an integer")
            }
            return number
        }
        guard let name = value["method"]?.string else {
            throw .configuration("--speculative-config needs 'method' (a string: \"ngram\")")
        }
        guard let method = Method(rawValue: name) else {
            let reason =
                ["suffix", "draft_model", "eagle", "eagle3", "mtp", "medusa", "mlp_speculator"].contains(name)
                ? "not implemented in this build" : "unknown"
            throw .configuration("--speculative-config method '\(name)' is \(reason); use \"ngram\"")
        }
        guard let count = try integer("num_speculative_tokens") else {
            throw .configuration("--speculative-config needs 'num_speculative_tokens'")
        }
        guard let lookupMax = try integer("prompt_lookup_max") else {
            throw .configuration("--speculative-config method 'ngram' needs 'prompt_lookup_max'")
        }
        try self.init(
            method: method,
            numSpeculativeTokens: count,
            promptLookupMax: lookupMax,
            promptLookupMin: try integer("prompt_lookup_min")
        )
    }

    func validate() throws(EngineError) {
        guard (1...Self.maxSpeculativeTokens).contains(numSpeculativeTokens) else {
            throw .configuration(
                "--speculative-config field 'num_speculative_tokens' must be in 1...\(Self.maxSpeculativeTokens), "
                    + "not \(numSpeculativeTokens)"
            )
        }
        guard promptLookupMin >= 1 else {
            throw .configuration("--speculative-config field 'prompt_lookup_min' must be at least 1")
        }
        guard promptLookupMax >= promptLookupMin else {
            throw .configuration(
                "--speculative-config field 'prompt_lookup_max' (\(promptLookupMax)) must be at least "
                    + "'prompt_lookup_min' (\(promptLookupMin))"
            )
        }
    }
}
