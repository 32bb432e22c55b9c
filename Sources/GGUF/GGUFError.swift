/// Why a GGUF file could not be read: what is wrong and at which byte offset.
///
/// Every malformed input ends in one of these (never a crash): the reader checks each count, length
/// and offset against the bytes that are really there before it uses or allocates by it.
public struct GGUFError: Error, Equatable, CustomStringConvertible {
    /// What is wrong.
    public enum Problem: Equatable, Sendable {
        case cannotOpen(path: String, reason: String)
        case badMagic(found: UInt32)
        case unsupportedVersion(UInt32)
        case truncated(field: String, needed: Int, available: Int)
        case absurdCount(field: String, count: UInt64, limit: UInt64)
        case unknownValueType(key: String, type: UInt32)
        case nestingTooDeep(key: String)
        case duplicateKey(String)
        case badAlignment(UInt64)
        case tooManyDimensions(tensor: String, dimensions: UInt32)
        case badDimension(tensor: String, dimension: UInt64)
        case unknownTensorType(tensor: String, type: UInt32)
        case partialBlock(tensor: String, rowLength: Int, blockSize: Int)
        case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
        case tensorDataOutOfBounds(tensor: String, end: UInt64, fileSize: Int)
        case duplicateTensor(String)
        case noSuchTensor(String)
        case missingKey(String)
        case wrongKeyType(key: String, expected: String, found: GGUFValueType)
    }

    public let problem: Problem
    /// Byte offset in the file where the problem was found (-1 when not tied to one).
    public let offset: Int

    public init(_ problem: Problem, at offset: Int) {
        self.problem = problem
        self.offset = offset
    }

    public var description: String {
        let place = offset >= 0 ? " at byte \(offset)" : ""
        return "malformed GGUF\(place): \(problemDescription)"
    }

    var problemDescription: String {
        switch problem {
        case .cannotOpen(let path, let reason): "cannot open \(path): \(reason)"
        case .badMagic(let found): "bad magic 0x\(String(found, radix: 16)), expected 0x46554747 (\"GGUF\")"
        case .unsupportedVersion(let v): "unsupported GGUF version \(v) (2 and 3 are supported)"
        case .truncated(let field, let needed, let available):
            "file ends inside \(field): \(needed) bytes needed, \(available) left"
        case .absurdCount(let field, let count, let limit):
            "\(field) is \(count), more than the \(limit) the rest of the file could hold"
        case .unknownValueType(let key, let type): "metadata key '\(key)' has unknown value type \(type)"
        case .nestingTooDeep(let key): "metadata key '\(key)' nests arrays too deeply"
        case .duplicateKey(let key): "metadata key '\(key)' appears twice"
        case .badAlignment(let a): "general.alignment \(a) is not a power of two between 1 and 2^20"
        case .tooManyDimensions(let t, let n): "tensor '\(t)' has \(n) dimensions (at most 4)"
        case .badDimension(let t, let d): "tensor '\(t)' has dimension \(d), out of range"
        case .unknownTensorType(let t, let type): "tensor '\(t)' has unknown type \(type)"
        case .partialBlock(let t, let n, let b): "tensor '\(t)' rows of \(n) values are not whole blocks of \(b)"
        case .misalignedTensor(let t, let o, let a): "tensor '\(t)' data offset \(o) is not a multiple of \(a)"
        case .tensorDataOutOfBounds(let t, let end, let size):
            "tensor '\(t)' data ends at byte \(end), past the end of the \(size)-byte file"
        case .duplicateTensor(let t): "tensor '\(t)' appears twice"
        case .noSuchTensor(let t): "no tensor named '\(t)'"
        case .missingKey(let k): "required metadata key '\(k)' is missing"
        case .wrongKeyType(let k, let expected, let found): "metadata key '\(k)' is \(found), expected \(expected)"
        }
    }
}
