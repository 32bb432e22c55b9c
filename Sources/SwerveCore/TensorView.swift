/// A typed, read-only view of one tensor's bytes, with no copy.
///
/// The bytes usually live in a memory-mapped model file; `owner` keeps that mapping alive for as long
/// as any view of it exists. `shape` is in GGUF order: `shape[0]` is the number of values in a row
/// (the contiguous dimension), the following dimensions count rows.
public struct TensorView: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    public let shape: [Int]
    public let data: UnsafeRawBufferPointer
    /// Whatever owns `data` (a file mapping); held only to keep it alive.
    public let owner: AnyObject?

    public init(name: String, type: GGMLType, shape: [Int], data: UnsafeRawBufferPointer, owner: AnyObject?) {
        self.name = name
        self.type = type
        self.shape = shape
        self.data = data
        self.owner = owner
    }

    /// Total number of values.
    public var elementCount: Int { shape.reduce(1, *) }
    /// Values per row (`shape[0]`).
    public var rowLength: Int { shape.first ?? 1 }
    /// Number of rows (product of the other dimensions).
    public var rowCount: Int { shape.dropFirst().reduce(1, *) }
    /// Bytes one row takes.
    public var rowBytes: Int { type.rowBytes(rowLength) ?? 0 }

    /// The bytes of row `index`.
    public func row(_ index: Int) -> UnsafeRawBufferPointer {
        precondition(index >= 0 && index < rowCount, "row \(index) out of 0..<\(rowCount) in \(name)")
        return UnsafeRawBufferPointer(rebasing: data[(index * rowBytes)..<((index + 1) * rowBytes)])
    }

    /// Rows `rows` as a tensor of their own, no copy: one part of a fused matrix (Phi-3's q/k/v and
    /// gate/up), named `name`.
    public func rows(_ rows: Range<Int>, name: String) -> TensorView {
        precondition(
            rows.lowerBound >= 0 && rows.upperBound <= rowCount,
            "rows \(rows) out of 0..<\(rowCount) in \(self.name)"
        )
        let bytes = UnsafeRawBufferPointer(rebasing: data[(rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes)])
        return TensorView(name: name, type: type, shape: [rowLength, rows.count], data: bytes, owner: owner)
    }

    /// Dequantizes rows `rows` (all by default) into floats with the scalar reference dequantizer.
    public func dequantized(rows: Range<Int>? = nil) throws(DequantizationError) -> [Float] {
        let rows = rows ?? 0..<rowCount
        let bytes = UnsafeRawBufferPointer(rebasing: data[(rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes)])
        return try Dequantizer.dequantize(type, from: bytes, count: rows.count * rowLength)
    }
}
