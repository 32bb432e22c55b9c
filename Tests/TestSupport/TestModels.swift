import Foundation
import ModelStore
import SwerveCore
import Testing

/// The real models integration tests use, fetched once per test process through Swerve's own store
/// (`$SWERVE_HOME`, default `~/.cache/swerve`), so `swift test` works on a fresh machine.
///
/// With `SWERVE_SKIP_REAL_MODELS=1` in the environment, a test that asks for one is cancelled (reported
/// as skipped) instead: the fast unit-only loop the README names.
public enum TestModels {
    private static let smollmTask = Task { try await ModelStore().pull(BuiltinModel.smollm2.name) }
    private static let gemmaTask = Task { try await ModelStore().pull(BuiltinModel.gemma3.name) }

    /// Whether real models are skipped in this run.
    public static let skipped =
        ProcessInfo.processInfo.environment["SWERVE_SKIP_REAL_MODELS"].map { $0 != "0" } ?? false

    /// Path of SmolLM2-135M-Instruct Q4_1.
    public static func smollm2() async throws -> String {
        try skipIfAsked()
        return try await smollmTask.value
    }

    /// Path of Gemma 3 270M Q4_K_M.
    public static func gemma3() async throws -> String {
        try skipIfAsked()
        return try await gemmaTask.value
    }

    private static let llamaVocabulariesTask = Task {
        let (status, output) = try await Subprocess.run(
            "/bin/bash",
            [Subprocess.root.appendingPathComponent("scripts/llama-vocabs").path]
        )
        guard status == 0, let folder = output.split(separator: "\n").last else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "scripts/llama-vocabs: \(output)"])
        }
        return String(folder)
    }

    /// Runs `scripts/NAME arguments` with the repository's Python (`scripts/python-env`, once) to make
    /// `folder` under `$SWERVE_HOME/checkpoints`, unless an earlier run completed it.
    private static func makeOnce(
        _ name: String,
        folder: String,
        _ arguments: (String) -> [String]
    ) async throws
        -> String
    {
        let home = ProcessInfo.processInfo.environment["SWERVE_HOME"] ?? NSHomeDirectory() + "/.cache/swerve"
        let folder = home + "/checkpoints/" + folder
        if !FileManager.default.fileExists(atPath: folder + "/.complete") {
            let (setup, setupOutput) = try await pythonEnvironment.value
            guard setup == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: setupOutput])
            }
            try? FileManager.default.removeItem(atPath: folder)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let (status, output) = try await Subprocess.run(
                Subprocess.root.appendingPathComponent(".venv/bin/python").path,
                [Subprocess.root.appendingPathComponent("scripts/" + name).path] + arguments(folder)
            )
            guard status == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "\(name): \(output)"])
            }
            FileManager.default.createFile(atPath: folder + "/.complete", contents: nil)
        }
        return folder
    }

    private static let pythonEnvironment = Task {
        try await Subprocess.run("/bin/bash", [Subprocess.root.appendingPathComponent("scripts/python-env").path])
    }

    private static let smollmCheckpointTask = Task {
        let gguf = try await smollmTask.value
        return try await makeOnce("gguf-to-checkpoint.py", folder: "smollm2-135m-f16") { [gguf, $0] }
    }

    private static let sentencePieceTokenizerTask = Task {
        let vocabulary = try await llamaVocabulariesTask.value + "/ggml-vocab-llama-spm.gguf"
        let folder = try await makeOnce("gguf-tokenizer-json.py", folder: "llama-spm-tokenizer") {
            [vocabulary, $0 + "/tokenizer.json"]
        }
        return folder + "/tokenizer.json"
    }

    /// A SentencePiece-style tokenizer.json (Llama 2's layout: BPE with byte fallback) written from llama.cpp's
    /// `ggml-vocab-llama-spm.gguf` by `scripts/gguf-tokenizer-json.py`, once, under `$SWERVE_HOME/checkpoints`.
    public static func sentencePieceTokenizerJSON() async throws -> String {
        try skipIfAsked()
        return try await sentencePieceTokenizerTask.value
    }

    /// SmolLM2-135M-Instruct as a Hugging Face checkpoint (float16 safetensors, config.json, tokenizer.json),
    /// dequantized from its GGUF by `scripts/gguf-to-checkpoint.py` once, under `$SWERVE_HOME/checkpoints`.
    public static func smollm2Checkpoint() async throws -> String {
        try skipIfAsked()
        return try await smollmCheckpointTask.value
    }

    /// The folder of llama.cpp's test vocabularies (`ggml-vocab-*.gguf` with their `.inp`/`.out` cases),
    /// fetched once by `scripts/llama-vocabs`.
    public static func llamaVocabularies() async throws -> String {
        try skipIfAsked()
        return try await llamaVocabulariesTask.value
    }

    static func skipIfAsked() throws {
        if skipped { try Test.cancel("SWERVE_SKIP_REAL_MODELS: this test needs a real model") }
    }
}

/// Decodes a JSON fixture from a test bundle's `Fixtures` folder.
public func loadFixture<T: Decodable>(_ name: String, as type: T.Type, in bundle: Bundle) throws -> T {
    guard let url = bundle.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "Fixtures/\(name).json"])
    }
    return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

/// A small deterministic random generator so failures reproduce.
public typealias SeededRandom = SplitMix64
