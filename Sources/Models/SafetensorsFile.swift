import Foundation
import GGUF

/// One `.safetensors` file, memory-mapped: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the data. Tensors are read as float rows (F32, F16, BF16), the
/// types float checkpoints carry. Written here because no kept Swift package reads safetensors.
public final class SafetensorsFile: @unchecked Sendable {
    public struct Tensor: Sendable {
        public var dtype: String
        public var shape: [Int]
        /// Byte range in the file.
        public var range: Range<Int>

        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let tensors: [String: Tensor]
    let mapping: FileMapping

    static let elementBytes = ["F32": 4, "F16": 2, "BF16": 2]

    /// Maps and parses the file at `path`.
    public convenience init(path: String) throws {
        let mapping: FileMapping
        do {
            mapping = try FileMapping(path: path)
        } catch {
            throw CheckpointError((path as NSString).lastPathComponent, "\(error)")
        }
        try self.init(mapping: mapping, path: path)
    }

    /// Parses a safetensors image held in memory (copied); `path` names it in errors.
    public convenience init(bytes: [UInt8], path: String) throws {
        try self.init(mapping: FileMapping(copying: bytes), path: path)
    }

    init(mapping: FileMapping, path: String) throws {
        self.path = path
        self.mapping = mapping
        let name = (path as NSString).lastPathComponent
        let bytes = mapping.bytes
        guard bytes.count >= 8 else { throw CheckpointError(name, "shorter than the 8-byte header length") }
        let headerLength = Int(clamping: bytes.loadUnaligned(as: UInt64.self).littleEndian)
        guard headerLength <= bytes.count - 8 else {
            throw CheckpointError(name, "header of \(headerLength) bytes runs past the end of the file")
        }
        let header = Data(bytes[8..<(8 + headerLength)])
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw CheckpointError(name, "the header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var tensors: [String: Tensor] = [:]
        for (key, value) in json where key != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw CheckpointError(name, "tensor '\(key)' has no dtype, shape or data_offsets")
            }
            guard let size = Self.elementBytes[dtype] else {
                throw CheckpointError(name, "tensor '\(key)' is \(dtype); float checkpoints (F32, F16, BF16) load")
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1],
                offsets[1] <= bytes.count - dataStart
            else {
                throw CheckpointError(name, "tensor '\(key)' lies outside the file")
            }
            let tensor = Tensor(dtype: dtype, shape: shape, range: (dataStart + offsets[0])..<(dataStart + offsets[1]))
            let count = shape.reduce((1, false)) { product, dimension in
                let (value, overflow) = product.0.multipliedReportingOverflow(by: dimension)
                return (value, product.1 || overflow)
            }
            guard !count.1, count.0 <= Int.max / size, tensor.range.count == count.0 * size else {
                throw CheckpointError(
                    name,
                    "tensor '\(key)' has \(tensor.range.count) bytes for shape \(shape) of \(dtype)"
                )
            }
            tensors[key] = tensor
        }
        self.tensors = tensors
    }

    /// The tensor's values as floats, in row-major order.
    public func floats(_ name: String) -> [Float] {
        let t = tensors[name]!
        let raw = UnsafeRawBufferPointer(rebasing: mapping.bytes[t.range])
        var out = [Float](repeating: 0, count: t.elementCount)
        switch t.dtype {
        case "F32":
            for i in 0..<out.count {
                out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian)
            }
        case "F16":
            for i in 0..<out.count {
                out[i] = Float(
                    Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian)
                )
            }
        default:  // BF16: the high half of an f32
            for i in 0..<out.count {
                out[i] = Float(
                    bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) << 16
                )
            }
        }
        return out
    }
}
