import SwerveCore

/// vLLM's `--speculative-config`: which proposer drafts tokens and how many one draft may hold. The drafts ride the same path as jump-forward's (the scheduler budgets them, the next
/// forward pass computes a logits row for each, sampling keeps them while it picks them), so the output is
/// token for token what decoding without speculation gives, greedy or seeded.
///
/// Implemented: `"ngram"` (prompt lookup over the sequence's own prompt and output, `NgramProposer`), with
/// vLLM's fields `num_speculative_tokens`, `prompt_lookup_max`, `prompt_lookup_min` (defaulting to
/// `prompt_lookup_max`, as vLLM does); `"suffix"` (`SuffixProposer`) with `suffix_decoding_max_tree_depth`,
/// `suffix_decoding_max_cached_requests`, `suffix_decoding_max_spec_factor`,
/// `suffix_decoding_min_token_prob` (vLLM's defaults; `num_speculative_tokens` defaults to the tree depth).
/// `"draft_model"` (`DraftModelProposer`) with `model` (a GGUF of the same vocabulary: a path, or a name
/// `swerve` resolves through its model store) and `num_speculative_tokens`.
/// All take vLLM's `disable_by_batch_size`: no drafts in steps with more running sequences than that
/// (`swerve` sets it, when absent, to where a step turns compute-bound on its backend).
/// vLLM's other methods (`eagle`, `mtp`…) are refused at startup with that reason, as is any field this
/// build would ignore.
public struct SpeculativeConfig: Sendable, Equatable {
    public enum Method: String, Sendable, Equatable {
        case ngram
        case suffix
        case draftModel = "draft_model"
    }

    public var method: Method
    /// Draft tokens proposed at once for one sequence (1...64).
    public var numSpeculativeTokens: Int
    /// The longest and shortest suffix of the sequence looked up earlier in it.
    public var promptLookupMax: Int
    public var promptLookupMin: Int
    /// `suffix`: the longest context matched (vLLM's `suffix_decoding_max_tree_depth`, 24), completions whose
    /// outputs are cached (`suffix_decoding_max_cached_requests`, 10,000), a draft's length at most this
    /// factor × the matched context's (`suffix_decoding_max_spec_factor`, 1.0), and the least cumulative
    /// probability of a drafted continuation (`suffix_decoding_min_token_prob`, 0.1).
    public var suffixMaxTreeDepth = 24
    public var suffixMaxCachedRequests = 10_000
    public var suffixMaxSpecFactor = 1.0
    public var suffixMinTokenProbability = 0.1
    /// vLLM's `disable_by_batch_size`: drafts (the proposer's and jump-forward's) run only in steps with at
    /// most this many running sequences; nil: `EngineConfiguration.maxJumpForwardBatch`.
    public var disableByBatchSize: Int?
    /// `draft_model`: the draft model's GGUF file (a path once `swerve` resolved a store name).
    public var model: String?

    /// Most draft tokens one proposal may hold.
    public static let maxSpeculativeTokens = 64

    /// The `ngram` method.
    public init(numSpeculativeTokens: Int, promptLookupMax: Int, promptLookupMin: Int? = nil) throws(EngineError) {
        method = .ngram
        self.numSpeculativeTokens = numSpeculativeTokens
        self.promptLookupMax = promptLookupMax
        self.promptLookupMin = promptLookupMin ?? promptLookupMax
        try validate()
    }

    /// The `suffix` method.
    public init(
        suffixMaxTreeDepth: Int = 24,
        maxCachedRequests: Int = 10_000,
        maxSpecFactor: Double = 1.0,
        minTokenProbability: Double = 0.1,
        numSpeculativeTokens: Int? = nil
    ) throws(EngineError) {
        method = .suffix
        self.numSpeculativeTokens = numSpeculativeTokens ?? min(suffixMaxTreeDepth, Self.maxSpeculativeTokens)
        promptLookupMax = 1
        promptLookupMin = 1
        self.suffixMaxTreeDepth = suffixMaxTreeDepth
        suffixMaxCachedRequests = maxCachedRequests
        suffixMaxSpecFactor = maxSpecFactor
        suffixMinTokenProbability = minTokenProbability
        try validate()
    }

    /// The `draft_model` method: `model` proposes `numSpeculativeTokens` tokens greedily.
    public init(draftModel model: String, numSpeculativeTokens: Int) throws(EngineError) {
        method = .draftModel
        self.model = model
        self.numSpeculativeTokens = numSpeculativeTokens
        promptLookupMax = 1
        promptLookupMin = 1
        try validate()
    }

    /// Parses `--speculative-config`'s JSON object; every error names the field.
    public init(json: String) throws(EngineError) {
        let value: JSONValue
        do { value = try JSONValue.parse(json) } catch {
            throw .configuration("--speculative-config is not valid JSON: \(error.message) at byte \(error.offset)")
        }
        guard let fields = value.object else { throw .configuration("--speculative-config must be a JSON object") }
        let known: Set<String> = [
            "method", "num_speculative_tokens", "prompt_lookup_max", "prompt_lookup_min",
            "suffix_decoding_max_tree_depth", "suffix_decoding_max_cached_requests", "suffix_decoding_max_spec_factor",
            "suffix_decoding_min_token_prob", "disable_by_batch_size", "model",
        ]
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
            throw .configuration(
                "--speculative-config needs 'method' (a string: \"ngram\", \"suffix\" or \"draft_model\")"
            )
        }
        guard let method = Method(rawValue: name) else {
            let reason =
                ["eagle", "eagle3", "mtp", "medusa", "mlp_speculator"].contains(name)
                ? "not implemented in this build" : "unknown"
            throw .configuration(
                "--speculative-config method '\(name)' is \(reason); use \"ngram\", \"suffix\" or \"draft_model\""
            )
        }
        if method != .draftModel, value["model"] != nil {
            throw .configuration("--speculative-config field 'model' is for method 'draft_model', not '\(name)'")
        }
        func number(_ key: String) throws(EngineError) -> Double? {
            guard let field = value[key] else { return nil }
            guard let number = field.double else {
                throw .configuration("--speculative-config field '\(key)' must be a number")
            }
            return number
        }
        if method != .ngram {
            let key = value.object?.first {
                $0.0.hasPrefix("prompt_lookup_") || (method == .draftModel && $0.0.hasPrefix("suffix_decoding_"))
            }?.0
            if let key {
                let owner = key.hasPrefix("prompt_lookup_") ? "ngram" : "suffix"
                throw .configuration("--speculative-config field '\(key)' is for method '\(owner)', not '\(name)'")
            }
        }
        if method == .draftModel {
            guard let model = value["model"]?.string, !model.isEmpty else {
                throw .configuration(
                    "--speculative-config method 'draft_model' needs 'model' (a GGUF path or model name)"
                )
            }
            guard let count = try integer("num_speculative_tokens") else {
                throw .configuration("--speculative-config needs 'num_speculative_tokens'")
            }
            try self.init(draftModel: model, numSpeculativeTokens: count)
        } else if method == .suffix {
            try self.init(
                suffixMaxTreeDepth: try integer("suffix_decoding_max_tree_depth") ?? 24,
                maxCachedRequests: try integer("suffix_decoding_max_cached_requests") ?? 10_000,
                maxSpecFactor: try number("suffix_decoding_max_spec_factor") ?? 1.0,
                minTokenProbability: try number("suffix_decoding_min_token_prob") ?? 0.1,
                numSpeculativeTokens: try integer("num_speculative_tokens")
            )
        } else {
            try self.init(ngram: value, integer: integer)
        }
        disableByBatchSize = try integer("disable_by_batch_size")
        try validate()
    }

    /// The `ngram` method's fields of `value`.
    init(ngram value: JSONValue, integer: (String) throws(EngineError) -> Int?) throws(EngineError) {
        if let key = value.object?.first(where: { $0.0.hasPrefix("suffix_decoding_") })?.0 {
            throw .configuration("--speculative-config field '\(key)' is for method 'suffix', not 'ngram'")
        }
        guard let count = try integer("num_speculative_tokens") else {
            throw .configuration("--speculative-config needs 'num_speculative_tokens'")
        }
        guard let lookupMax = try integer("prompt_lookup_max") else {
            throw .configuration("--speculative-config method 'ngram' needs 'prompt_lookup_max'")
        }
        try self.init(
            numSpeculativeTokens: count,
            promptLookupMax: lookupMax,
            promptLookupMin: try integer("prompt_lookup_min")
        )
    }

    func validate() throws(EngineError) {
        if let size = disableByBatchSize, size < 1 {
            throw .configuration("--speculative-config field 'disable_by_batch_size' must be at least 1, not \(size)")
        }
        if method == .suffix {
            guard (1...256).contains(suffixMaxTreeDepth) else {
                throw .configuration("--speculative-config field 'suffix_decoding_max_tree_depth' must be in 1...256")
            }
            guard suffixMaxCachedRequests >= 0 else {
                throw .configuration(
                    "--speculative-config field 'suffix_decoding_max_cached_requests' must be at least 0"
                )
            }
            guard suffixMaxSpecFactor > 0 else {
                throw .configuration("--speculative-config field 'suffix_decoding_max_spec_factor' must be above 0")
            }
            guard (0...1).contains(suffixMinTokenProbability) else {
                throw .configuration("--speculative-config field 'suffix_decoding_min_token_prob' must be in [0, 1]")
            }
        }
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
