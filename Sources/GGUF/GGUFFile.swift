import SwerveCore

/// A parsed GGUF model file: header, metadata and tensor directory over memory-mapped bytes.
///
/// Parsing reads only the header and directory; tensor data stays in the mapping and is exposed as
/// `TensorView`s without a copy. Versions 2 and 3 are read (version 1 used 32-bit counts and is refused).
/// Written here because no Swift package reads GGUF.
public final class GGUFFile: @unchecked Sendable {
    /// Magic number at byte 0: "GGUF" in little-endian order.
    public static let magic: UInt32 = 0x4655_4747
    /// Alignment of tensor data when `general.alignment` is absent.
    public static let defaultAlignment = 32
    static let maxArrayNesting = 8
    static let maxDimensions: UInt32 = 4

    public let version: UInt32
    /// Metadata in file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensor directory in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Byte offset where tensor data starts.
    public let dataOffset: Int
    public let mapping: FileMapping
    private let tensorIndex: [String: Int]

    /// Memory-maps and parses the file at `path`.
    public convenience init(path: String) throws(GGUFError) {
        try self.init(mapping: FileMapping(path: path))
    }

    /// Parses a GGUF image held in memory (copied).
    public convenience init(bytes: [UInt8]) throws(GGUFError) {
        try self.init(mapping: FileMapping(copying: bytes))
    }

    public init(mapping: FileMapping) throws(GGUFError) {
        self.mapping = mapping
        var cursor = ByteCursor(bytes: mapping.bytes)
        let magic = try cursor.read(UInt32.self, "magic")
        guard magic == Self.magic else { throw GGUFError(.badMagic(found: magic), at: 0) }
        version = try cursor.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw GGUFError(.unsupportedVersion(version), at: 4) }
        // Smallest tensor info: empty name (8) + dims count (4) + one dim (8) + type (4) + offset (8).
        let tensorCount = try cursor.readCount("tensor count", minimumSize: 32)
        // Smallest key/value: empty key (8) + type (4) + one byte.
        let kvCount = try cursor.readCount("metadata count", minimumSize: 13)

        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        for index in 0..<kvCount {
            let keyOffset = cursor.offset
            let key = try cursor.readString("key of metadata entry \(index)")
            let typeOffset = cursor.offset
            let rawType = try cursor.read(UInt32.self, "value type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw GGUFError(.unknownValueType(key: key, type: rawType), at: typeOffset)
            }
            let value = try Self.readValue(type, key: key, depth: 0, cursor: &cursor)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw GGUFError(.duplicateKey(key), at: keyOffset)
            }
            keys.append(key)
        }
        metadataKeys = keys
        self.metadata = metadata

        var alignment = Self.defaultAlignment
        if let value = metadata["general.alignment"] {
            guard case .uint32(let a) = value else {
                throw GGUFError(.wrongKeyType(key: "general.alignment", expected: "u32", found: value.type), at: -1)
            }
            guard a > 0, a <= 1 << 20, a & (a - 1) == 0 else { throw GGUFError(.badAlignment(UInt64(a)), at: -1) }
            alignment = Int(a)
        }
        self.alignment = alignment

        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        infos.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let infoOffset = cursor.offset
            let info = try Self.readTensorInfo(number: i, cursor: &cursor)
            guard index.updateValue(infos.count, forKey: info.name) == nil else {
                throw GGUFError(.duplicateTensor(info.name), at: infoOffset)
            }
            infos.append(info)
        }
        let aligned = (cursor.offset + alignment - 1) / alignment * alignment
        dataOffset = aligned
        let fileSize = mapping.bytes.count
        for info in infos {
            guard info.offset % UInt64(alignment) == 0 else {
                throw GGUFError(
                    .misalignedTensor(tensor: info.name, offset: info.offset, alignment: alignment),
                    at: info.directoryOffset
                )
            }
            let (end, overflow) = info.offset.addingReportingOverflow(UInt64(info.byteCount) + UInt64(aligned))
            guard !overflow, end <= UInt64(fileSize) else {
                throw GGUFError(
                    .tensorDataOutOfBounds(tensor: info.name, end: overflow ? .max : end, fileSize: fileSize),
                    at: info.directoryOffset
                )
            }
        }
        tensors = infos
        tensorIndex = index
    }

    private static func readValue(
        _ type: GGUFValueType,
        key: String,
        depth: Int,
        cursor: inout ByteCursor
    ) throws(GGUFError) -> GGUFValue {
        let field = "value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try cursor.read(UInt8.self, field))
        case .int8: return .int8(try cursor.read(Int8.self, field))
        case .uint16: return .uint16(try cursor.read(UInt16.self, field))
        case .int16: return .int16(try cursor.read(Int16.self, field))
        case .uint32: return .uint32(try cursor.read(UInt32.self, field))
        case .int32: return .int32(try cursor.read(Int32.self, field))
        case .float32: return .float32(Float(bitPattern: try cursor.read(UInt32.self, field)))
        case .bool: return .bool(try cursor.read(UInt8.self, field) != 0)
        case .string: return .string(try cursor.readString(field))
        case .uint64: return .uint64(try cursor.read(UInt64.self, field))
        case .int64: return .int64(try cursor.read(Int64.self, field))
        case .float64: return .float64(Double(bitPattern: try cursor.read(UInt64.self, field)))
        case .array:
            guard depth < maxArrayNesting else { throw GGUFError(.nestingTooDeep(key: key), at: cursor.offset) }
            let typeOffset = cursor.offset
            let rawType = try cursor.read(UInt32.self, "element type of '\(key)'")
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw GGUFError(.unknownValueType(key: key, type: rawType), at: typeOffset)
            }
            let count = try cursor.readCount("element count of '\(key)'", minimumSize: elementType.minimumSize)
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count {
                values.append(try readValue(elementType, key: key, depth: depth + 1, cursor: &cursor))
            }
            return .array(elementType, values)
        }
    }

    private static func readTensorInfo(number: Int, cursor: inout ByteCursor) throws(GGUFError) -> GGUFTensorInfo {
        let start = cursor.offset
        let name = try cursor.readString("name of tensor \(number)")
        let dimsOffset = cursor.offset
        let dimensionCount = try cursor.read(UInt32.self, "dimension count of '\(name)'")
        guard dimensionCount >= 1, dimensionCount <= maxDimensions else {
            throw GGUFError(.tooManyDimensions(tensor: name, dimensions: dimensionCount), at: dimsOffset)
        }
        var shape: [Int] = []
        // The product of the non-zero dimensions: a zero keeps the element count at 0, but the row count
        // behind it must still fit.
        var extent: UInt64 = 1
        for d in 0..<Int(dimensionCount) {
            let dimOffset = cursor.offset
            let dim = try cursor.read(UInt64.self, "dimension \(d) of '\(name)'")
            let (product, overflow) = extent.multipliedReportingOverflow(by: max(dim, 1))
            guard dim <= UInt64(Int32.max), !overflow, product <= UInt64(Int.max / 8) else {
                throw GGUFError(.badDimension(tensor: name, dimension: dim), at: dimOffset)
            }
            extent = product
            shape.append(Int(dim))
        }
        let typeOffset = cursor.offset
        let rawType = try cursor.read(UInt32.self, "type of '\(name)'")
        guard let type = GGMLType(rawValue: rawType) else {
            throw GGUFError(.unknownTensorType(tensor: name, type: rawType), at: typeOffset)
        }
        guard let rowBytes = type.rowBytes(shape[0]) else {
            throw GGUFError(.partialBlock(tensor: name, rowLength: shape[0], blockSize: type.blockSize), at: dimsOffset)
        }
        let rows = shape.dropFirst().reduce(1, *)
        let offset = try cursor.read(UInt64.self, "data offset of '\(name)'")
        return GGUFTensorInfo(
            name: name,
            type: type,
            shape: shape,
            offset: offset,
            byteCount: rowBytes * rows,
            directoryOffset: start
        )
    }

    /// The info of tensor `name`, if present.
    public func info(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// A no-copy view of tensor `name`.
    public func tensor(_ name: String) throws(GGUFError) -> TensorView {
        guard let info = info(name) else { throw GGUFError(.noSuchTensor(name), at: -1) }
        return view(info)
    }

    /// A no-copy view of a tensor of this file.
    public func view(_ info: GGUFTensorInfo) -> TensorView {
        let start = dataOffset + Int(info.offset)
        let data = UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + info.byteCount)])
        return TensorView(name: info.name, type: info.type, shape: info.shape, data: data, owner: mapping)
    }

    // MARK: Typed metadata access

    public subscript(key: String) -> GGUFValue? { metadata[key] }

    /// `general.architecture`, e.g. `llama`.
    public var architecture: String? { metadata["general.architecture"]?.string }

    /// A required integer value.
    public func int(_ key: String) throws(GGUFError) -> Int {
        guard let value = metadata[key] else { throw GGUFError(.missingKey(key), at: -1) }
        guard let int = value.int else {
            throw GGUFError(.wrongKeyType(key: key, expected: "integer", found: value.type), at: -1)
        }
        return int
    }

    /// A required floating-point value (integers accepted).
    public func double(_ key: String) throws(GGUFError) -> Double {
        guard let value = metadata[key] else { throw GGUFError(.missingKey(key), at: -1) }
        guard let double = value.double else {
            throw GGUFError(.wrongKeyType(key: key, expected: "number", found: value.type), at: -1)
        }
        return double
    }

    /// A required string value.
    public func string(_ key: String) throws(GGUFError) -> String {
        guard let value = metadata[key] else { throw GGUFError(.missingKey(key), at: -1) }
        guard let string = value.string else {
            throw GGUFError(.wrongKeyType(key: key, expected: "string", found: value.type), at: -1)
        }
        return string
    }
}

/// One entry of a GGUF tensor directory.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGMLType
    /// GGUF order: `shape[0]` is the contiguous row length.
    public let shape: [Int]
    /// Offset of the data from the start of the data section.
    public let offset: UInt64
    public let byteCount: Int
    /// Where this entry starts in the file, for error messages.
    public let directoryOffset: Int

    public var elementCount: Int { shape.reduce(1, *) }
}
