import GGUF

/// The vocabulary's special token ids from GGUF metadata (`tokenizer.ggml.*_token_id`) and whether
/// the model wants BOS/EOS added around a prompt.
public struct SpecialTokens: Sendable, Equatable {
    public var bos: Int?
    public var eos: Int?
    /// End of turn (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`): ends generation like EOS.
    public var eot: Int?
    public var unknown: Int?
    public var padding: Int?
    public var addBOS: Bool
    public var addEOS: Bool

    public init(
        bos: Int? = nil,
        eos: Int? = nil,
        eot: Int? = nil,
        unknown: Int? = nil,
        padding: Int? = nil,
        addBOS: Bool = false,
        addEOS: Bool = false
    ) {
        self.bos = bos
        self.eos = eos
        self.eot = eot
        self.unknown = unknown
        self.padding = padding
        self.addBOS = addBOS
        self.addEOS = addEOS
    }

    public init(gguf: GGUFFile) {
        func id(_ name: String) -> Int? { gguf["tokenizer.ggml.\(name)_token_id"]?.int }
        self.init(
            bos: id("bos"),
            eos: id("eos"),
            eot: id("eot"),
            unknown: id("unknown"),
            padding: id("padding"),
            addBOS: gguf["tokenizer.ggml.add_bos_token"]?.bool ?? false,
            addEOS: gguf["tokenizer.ggml.add_eos_token"]?.bool ?? false
        )
    }

    /// Every id that is set, with its name.
    public var all: [(String, Int)] {
        [("bos", bos), ("eos", eos), ("eot", eot), ("unknown", unknown), ("padding", padding)]
            .compactMap { name, id in id.map { (name, $0) } }
    }
}
