import SwerveCore

/// Builds a GGUF image in memory: metadata in insertion order, then tensors, aligned as the format requires.
///
/// Tests use it to make small synthetic models and malformed files; it writes version 3 unless told otherwise.
public struct GGUFWriter {
    public struct Tensor {
        public var name: String
        public var type: GGMLType
        public var shape: [Int]
        public var data: [UInt8]
    }

    public var version: UInt32 = 3
    public var alignment: Int = GGUFFile.defaultAlignment
    public private(set) var metadata: [(String, GGUFValue)] = []
    public private(set) var tensors: [Tensor] = []

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let index = metadata.firstIndex(where: { $0.0 == key }) {
            metadata[index].1 = value
        } else {
            metadata.append((key, value))
        }
    }

    /// Adds a tensor; `data` must hold exactly the bytes its type and shape take.
    public mutating func addTensor(_ name: String, type: GGMLType, shape: [Int], data: [UInt8]) {
        precondition(type.rowBytes(shape[0]).map { $0 * shape.dropFirst().reduce(1, *) } == data.count)
        tensors.append(Tensor(name: name, type: type, shape: shape, data: data))
    }

    /// Adds an F32 tensor.
    public mutating func addTensor(_ name: String, shape: [Int], floats: [Float]) {
        addTensor(
            name,
            type: .f32,
            shape: shape,
            data: floats.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        )
    }

    /// The encoded file.
    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        out.append(GGUFFile.magic)
        out.append(version)
        out.append(UInt64(tensors.count))
        out.append(UInt64(metadata.count))
        for (key, value) in metadata {
            out.appendString(key)
            out.append(value.type.rawValue)
            out.appendValue(value)
        }
        var offsets: [Int] = []
        var dataSize = 0
        for tensor in tensors {
            dataSize = (dataSize + alignment - 1) / alignment * alignment
            offsets.append(dataSize)
            dataSize += tensor.data.count
        }
        for (tensor, offset) in zip(tensors, offsets) {
            out.appendString(tensor.name)
            out.append(UInt32(tensor.shape.count))
            for dim in tensor.shape { out.append(UInt64(dim)) }
            out.append(tensor.type.rawValue)
            out.append(UInt64(offset))
        }
        let dataStart = (out.count + alignment - 1) / alignment * alignment
        out.append(contentsOf: repeatElement(0, count: dataStart - out.count))
        for (tensor, offset) in zip(tensors, offsets) {
            out.append(contentsOf: repeatElement(0, count: dataStart + offset - out.count))
            out.append(contentsOf: tensor.data)
        }
        return out
    }
}

extension [UInt8] {
    mutating func append<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendString(_ string: String) {
        append(UInt64(string.utf8.count))
        append(contentsOf: string.utf8)
    }

    mutating func appendValue(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .bool(let v): append(UInt8(v ? 1 : 0))
        case .string(let v): appendString(v)
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float64(let v): append(v.bitPattern)
        case .array(let type, let values):
            append(type.rawValue)
            append(UInt64(values.count))
            for element in values { appendValue(element) }
        }
    }
}
