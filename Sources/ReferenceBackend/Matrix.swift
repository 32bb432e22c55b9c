import SwerveCore

/// A weight matrix and how the reference multiplies by it: in ggml's block arithmetic for Q4_1 and Q8_0,
/// in f32 for everything else.
struct Matrix {
    let tensor: TensorView
    /// Dequantized values for types without a block dot product here.
    let dense: [Float]?

    init(_ tensor: TensorView) {
        self.tensor = tensor
        // `ReferenceBackend.load` checked that the type is dequantizable.
        dense = tensor.type == .q4_1 || tensor.type == .q8_0 ? nil : try! tensor.dequantized()
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
            return Q8Block(d: ReferenceBackend.half(d), s: ReferenceBackend.half(Float(sum) * d), qs: qs)
        }
    }
}
