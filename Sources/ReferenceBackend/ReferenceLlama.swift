import GGUF
import Models
import SwerveCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The llama forward pass in plain Swift over f32 weights: slow, obviously right, the oracle that faster
/// backends are tested against (besides llama.cpp's own outputs).
///
/// Each step runs RMSNorm, q/k/v projections, RoPE on adjacent pairs (GGUF's llama layout), causal
/// grouped-query attention over a contiguous KV cache, the output projection, SwiGLU, and the tied or separate
/// output head. The arithmetic is ggml's: a matmul against Q4_1 or Q8_0 weights quantizes the activations per
/// 32-value block to 8 bits (Q8_1 or Q8_0) and sums integer products per block, as llama.cpp's CPU backend
/// and Swerve's fast kernels do; K and V are kept in f16, and attention's operands are rounded to f16, as
/// with llama.cpp's default f16 KV cache. Other weight types are dequantized to f32.
/// One token at a time: clarity over speed. The weights are immutable and shared; each sequence's KV cache
/// lives in a `Sequence` value its caller owns.
public final class ReferenceLlama: Sendable {
    public let config: ModelConfig
    let embedding: TensorView
    let outputNorm: [Float]
    let output: Matrix
    let layers: [Layer]

    /// One sequence's KV cache: per layer, every position's keys and values.
    public struct Sequence: Sendable {
        var keys: [[Float]]
        var values: [[Float]]
        public internal(set) var position = 0

        public init(layers: Int) {
            keys = Array(repeating: [], count: layers)
            values = Array(repeating: [], count: layers)
        }
    }

    struct Layer: Sendable {
        var attnNorm, ffnNorm: [Float]
        var wq, wk, wv, wo, gate, up, down: Matrix
    }

    public init(file: GGUFFile) throws {
        config = try ModelRegistry.config(of: file)
        guard config.architecture == LlamaArchitecture.name else {
            throw ModelError.unsupportedArchitecture(config.architecture)
        }
        func weights(_ name: String) throws -> [Float] { try file.tensor(name).dequantized() }
        func matrix(_ name: String) throws -> Matrix { try Matrix(file.tensor(name)) }
        embedding = try file.tensor("token_embd.weight")
        guard embedding.type.isDequantizable else {
            throw ModelError.invalid("token_embd.weight has type \(embedding.type), which has no dequantizer")
        }
        outputNorm = try weights("output_norm.weight")
        output = try matrix(file.info("output.weight") == nil ? "token_embd.weight" : "output.weight")
        var layers: [Layer] = []
        for b in 0..<config.blockCount {
            let p = "blk.\(b)."
            layers.append(
                Layer(
                    attnNorm: try weights(p + "attn_norm.weight"),
                    ffnNorm: try weights(p + "ffn_norm.weight"),
                    wq: try matrix(p + "attn_q.weight"),
                    wk: try matrix(p + "attn_k.weight"),
                    wv: try matrix(p + "attn_v.weight"),
                    wo: try matrix(p + "attn_output.weight"),
                    gate: try matrix(p + "ffn_gate.weight"),
                    up: try matrix(p + "ffn_up.weight"),
                    down: try matrix(p + "ffn_down.weight")
                )
            )
        }
        self.layers = layers
    }

    /// An empty sequence for this model.
    public func makeSequence() -> Sequence { Sequence(layers: config.blockCount) }

    /// Runs one token at the sequence's next position and returns the logits over the vocabulary.
    public func step(_ token: Int, _ sequence: inout Sequence) -> [Float] {
        let position = sequence.position
        let c = config
        let width = c.embeddingLength
        let headDim = c.headDimension
        precondition(token >= 0 && token < embedding.rowCount, "token \(token) outside the vocabulary")
        // The type was checked as dequantizable when the model loaded.
        var x = try! embedding.dequantized(rows: token..<(token + 1))
        for (b, layer) in layers.enumerated() {
            let h = Self.rmsNorm(x, layer.attnNorm, Float(c.rmsNormEpsilon))
            var q = layer.wq.apply(h)
            var k = layer.wk.apply(h)
            let v = layer.wv.apply(h).map(Self.half)
            Self.rope(&q, heads: c.headCount, headDim: headDim, position: position, base: Float(c.ropeFrequencyBase))
            Self.rope(&k, heads: c.headCountKV, headDim: headDim, position: position, base: Float(c.ropeFrequencyBase))
            sequence.keys[b] += k.map(Self.half)
            sequence.values[b] += v
            let attended = attention(q, keys: sequence.keys[b], values: sequence.values[b], positions: position + 1)
            let projected = layer.wo.apply(attended)
            for i in 0..<width { x[i] += projected[i] }
            let f = Self.rmsNorm(x, layer.ffnNorm, Float(c.rmsNormEpsilon))
            let gate = layer.gate.apply(f)
            let up = layer.up.apply(f)
            var act = [Float](repeating: 0, count: c.feedForwardLength)
            for i in 0..<act.count { act[i] = gate[i] / (1 + expf(-gate[i])) * up[i] }
            let down = layer.down.apply(act)
            for i in 0..<width { x[i] += down[i] }
        }
        sequence.position += 1
        return output.apply(Self.rmsNorm(x, outputNorm, Float(c.rmsNormEpsilon)))
    }

    /// Causal attention of one query position over every cached position, grouped-query.
    func attention(_ q: [Float], keys: [Float], values: [Float], positions: Int) -> [Float] {
        let c = config
        let headDim = c.headDimension
        let kvWidth = c.headCountKV * headDim
        let group = c.headCount / c.headCountKV
        let scale = 1 / Float(headDim).squareRoot()
        var out = [Float](repeating: 0, count: c.headCount * headDim)
        for head in 0..<c.headCount {
            let kvHead = head / group
            var scores = [Float](repeating: 0, count: positions)
            for t in 0..<positions {
                var dot: Float = 0
                for d in 0..<headDim {
                    dot += Self.half(q[head * headDim + d]) * keys[t * kvWidth + kvHead * headDim + d]
                }
                scores[t] = dot * scale
            }
            let maximum = scores.max()!
            var total: Float = 0
            for t in 0..<positions {
                scores[t] = expf(scores[t] - maximum)
                total += scores[t]
            }
            for t in 0..<positions {
                let weight = Self.half(scores[t] / total)
                for d in 0..<headDim { out[head * headDim + d] += weight * values[t * kvWidth + kvHead * headDim + d] }
            }
        }
        return out
    }

    /// Rounds through IEEE half precision.
    @inline(__always)
    static func half(_ x: Float) -> Float { Float(Float16(x)) }

    static func rmsNorm(_ x: [Float], _ weight: [Float], _ epsilon: Float) -> [Float] {
        var meanSquare: Float = 0
        for v in x { meanSquare += v * v }
        meanSquare /= Float(x.count)
        let scale = 1 / (meanSquare + epsilon).squareRoot()
        return (0..<x.count).map { x[$0] * scale * weight[$0] }
    }

    /// Rotates adjacent pairs (x[2i], x[2i+1]) of each head by position · base^(-2i/headDim).
    static func rope(_ x: inout [Float], heads: Int, headDim: Int, position: Int, base: Float) {
        for head in 0..<heads {
            for i in stride(from: 0, to: headDim, by: 2) {
                let theta = Float(position) * powf(base, -Float(i) / Float(headDim))
                let (cos, sin) = (cosf(theta), sinf(theta))
                let a = x[head * headDim + i]
                let b = x[head * headDim + i + 1]
                x[head * headDim + i] = a * cos - b * sin
                x[head * headDim + i + 1] = a * sin + b * cos
            }
        }
    }
}

/// A weight matrix and how the reference multiplies by it: in ggml's block arithmetic for Q4_1 and Q8_0,
/// in f32 for everything else.
struct Matrix: Sendable {
    let tensor: TensorView
    /// Dequantized values for types without a block dot product here.
    let dense: [Float]?

    init(_ tensor: TensorView) throws {
        self.tensor = tensor
        dense = tensor.type == .q4_1 || tensor.type == .q8_0 ? nil : try tensor.dequantized()
    }

    /// Weights (rows × x.count) times x.
    func apply(_ x: [Float]) -> [Float] {
        let n = tensor.rowLength
        let rows = tensor.rowCount
        precondition(x.count == n, "\(tensor.name) expects \(n) inputs, got \(x.count)")
        var out = [Float](repeating: 0, count: rows)
        if let dense {
            for r in 0..<rows {
                var sum: Float = 0
                for i in 0..<n { sum += dense[r * n + i] * x[i] }
                out[r] = sum
            }
            return out
        }
        let blocks = Q8Block.quantize(x)
        let type = tensor.type
        let base = tensor.data.baseAddress!
        for r in 0..<rows {
            let row = base + r * tensor.rowBytes
            var sum: Float = 0
            for (b, y) in blocks.enumerated() {
                let w = row + b * type.typeSize
                let d = Dequantizer.halfToFloat(w.loadUnaligned(as: UInt16.self))
                var dot: Int32 = 0
                if type == .q8_0 {
                    for j in 0..<32 { dot += Int32(w.load(fromByteOffset: 2 + j, as: Int8.self)) * Int32(y.qs[j]) }
                    sum += Float(dot) * (d * y.d)
                } else {
                    let m = Dequantizer.halfToFloat(w.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
                    for j in 0..<16 {
                        let q = w.load(fromByteOffset: 4 + j, as: UInt8.self)
                        dot += Int32(q & 0x0F) * Int32(y.qs[j]) + Int32(q >> 4) * Int32(y.qs[j + 16])
                    }
                    sum += (d * y.d) * Float(dot) + m * y.s
                }
            }
            out[r] = sum
        }
        return out
    }
}

/// 32 activations quantized to 8 bits as ggml's `quantize_row_q8_1_ref` does (`s` unused for Q8_0).
struct Q8Block {
    var d: Float
    var s: Float
    var qs: [Int8]

    static func quantize(_ x: [Float]) -> [Q8Block] {
        stride(from: 0, to: x.count, by: 32).map { start in
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(x[start + j])) }
            let d = amax / 127
            let id = d != 0 ? 1 / d : 0
            let qs = (0..<32).map { Int8((x[start + $0] * id).rounded(.toNearestOrAwayFromZero)) }
            let sum = qs.reduce(0) { $0 + Int($1) }
            return Q8Block(d: ReferenceLlama.half(d), s: ReferenceLlama.half(Float(sum) * d), qs: qs)
        }
    }
}
