import GGUF
import Models
import ReferenceBackend
import SwerveCore
import TestSupport
import Testing

/// A GGUF file whose metadata and tensors disagree is refused when it loads, naming the tensor or key, before
/// any kernel reads a tensor past its end (a transposed output head used to run, a flattened embedding to
/// stop the process).
@Suite struct MisshapenModelTests {
    struct Tensor {
        var name: String
        var type: GGMLType
        var shape: [Int]
        var data: [UInt8]
    }

    /// `base` (the synthetic llama by default) rebuilt with `change` applied to its metadata and tensors.
    static func rebuilt(
        _ base: GGUFFile? = nil,
        _ change: (inout [(String, GGUFValue)], inout [Tensor]) -> Void
    ) throws -> GGUFFile {
        let base = try base ?? SyntheticModel.llama()
        var metadata = base.metadataKeys.map { ($0, base.metadata[$0]!) }
        var tensors = base.tensors.map {
            Tensor(name: $0.name, type: $0.type, shape: $0.shape, data: Array(base.view($0).data))
        }
        change(&metadata, &tensors)
        var writer = GGUFWriter()
        for (key, value) in metadata { writer.set(key, value) }
        for t in tensors { writer.addTensor(t.name, type: t.type, shape: t.shape, data: t.data) }
        return try GGUFFile(bytes: writer.bytes())
    }

    static func load(_ gguf: GGUFFile) throws -> any ForwardPass {
        try ModelRegistry.makeForward(gguf: gguf, backend: ReferenceBackend(), maxBatch: 4)
    }

    /// The refusal's text, or nil when the file loaded.
    static func refusal(_ gguf: GGUFFile) -> String? {
        do {
            _ = try load(gguf)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func theUnchangedFileLoadsAndRuns() throws {
        let forward = try Self.load(Self.rebuilt { _, _ in })
        let cache = forward.makeCache(capacity: 8)
        var logits = [Float](repeating: 0, count: forward.config.vocabularySize)
        [Int32(3), 4].withUnsafeBufferPointer { ids in
            logits.withUnsafeMutableBufferPointer { forward.forward(ids, firstPosition: 0, cache: cache, logits: $0) }
        }
        #expect(logits.allSatisfy(\.isFinite) && logits.contains { $0 != 0 })
    }

    /// Each matrix and vector one row short, transposed (where not square) and flattened to one dimension.
    @Test(arguments: [
        "token_embd.weight", "output.weight", "output_norm.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight",
        "blk.0.attn_k.weight", "blk.1.attn_v.weight", "blk.1.attn_output.weight", "blk.0.ffn_gate.weight",
        "blk.1.ffn_up.weight", "blk.1.ffn_down.weight", "blk.1.ffn_norm.weight",
    ])
    func aTensorOfTheWrongShapeIsRefusedByName(_ name: String) throws {
        let tensor = try #require(try SyntheticModel.llama().info(name))
        var shapes: [[Int]] = [
            tensor.shape.count == 1 ? [tensor.shape[0] - 32] : [tensor.shape[0], tensor.shape[1] - 1]
        ]
        if tensor.shape.count == 2 {
            if tensor.shape[0] != tensor.shape[1] { shapes.append([tensor.shape[1], tensor.shape[0]]) }
            shapes.append([tensor.shape[0] * tensor.shape[1]])
        }
        for shape in shapes {
            let gguf = try Self.rebuilt { _, tensors in
                let i = tensors.firstIndex { $0.name == name }!
                let old = tensors[i].shape
                // A short vector or matrix keeps its first values or rows; a transposed or flattened one
                // keeps every byte.
                if shape.count == 1 && old.count == 1 {
                    tensors[i].data = Array(tensors[i].data.prefix(shape[0] * 4))
                } else if shape.count == 2 && shape[0] == old[0] {
                    tensors[i].data = Array(tensors[i].data.prefix(tensors[i].data.count / old[1] * shape[1]))
                }
                tensors[i].shape = shape
            }
            let message = try #require(Self.refusal(gguf), "\(name) as \(shape) loaded")
            #expect(message.contains("'\(name)' has shape \(shape)"), "\(message)")
        }
    }

    /// Phi-3's fused q/k/v and gate/up matrices, one row short.
    @Test(arguments: ["blk.0.attn_qkv.weight", "blk.1.ffn_up.weight"])
    func aFusedMatrixOfTheWrongShapeIsRefusedByName(_ name: String) throws {
        let phi3 = try GGUFFile(path: ArchitectureFixture.path(of: "arch-phi3.gguf"))
        let shape = try #require(phi3.info(name)).shape
        let gguf = try Self.rebuilt(phi3) { _, tensors in
            let i = tensors.firstIndex { $0.name == name }!
            tensors[i].data = Array(tensors[i].data.prefix(tensors[i].data.count / shape[1] * (shape[1] - 1)))
            tensors[i].shape = [shape[0], shape[1] - 1]
        }
        let message = try #require(Self.refusal(gguf), "\(name) one row short loaded")
        #expect(message.contains("'\(name)' has shape [\(shape[0]), \(shape[1] - 1)]"), "\(message)")
    }

    @Test(arguments: [
        ("llama.embedding_length", GGUFValue.uint32(32), "'token_embd.weight' has shape"),
        ("llama.attention.head_count", .uint32(8), "'blk.0.attn_k.weight' has shape"),
        ("llama.attention.head_count_kv", .uint32(1), "'blk.0.attn_k.weight' has shape"),
        ("llama.feed_forward_length", .uint32(64), "'blk.0.ffn_gate.weight' has shape"),
        ("llama.vocab_size", .uint32(97), "'token_embd.weight' has shape"),
        ("llama.attention.key_length", .uint32(8), "'blk.0.attn_q.weight' has shape"),
        ("llama.attention.value_length", .uint32(32), "value_length' is 32"),
        ("llama.context_length", .uint32(0), "context_length' is 0"),
        ("llama.rope.freq_base", .float32(0), "freq_base' is 0.0"),
        ("llama.rope.freq_base", .float32(.nan), "freq_base' is nan"),
        ("llama.attention.layer_norm_rms_epsilon", .float32(-1), "epsilon' is -1.0"),
    ])
    func metadataTheTensorsContradictIsRefused(key: String, value: GGUFValue, message: String) throws {
        let gguf = try Self.rebuilt { metadata, _ in
            if let i = metadata.firstIndex(where: { $0.0 == key }) {
                metadata[i].1 = value
            } else {
                metadata.append((key, value))
            }
        }
        let refusal = try #require(Self.refusal(gguf), "\(key) = \(value) loaded")
        #expect(refusal.contains(message), "\(refusal)")
    }
}
