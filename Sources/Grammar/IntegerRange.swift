/// The decimal texts of the integers in a range, as grammar alternatives (digit classes per position):
/// the classic split into equal-length pieces with a common prefix, so `minimum`/`maximum` on a JSON
/// integer constrain every digit the model writes. No leading zeros; `-0` never appears.
enum IntegerRange {
    /// Integers in `low...high` (nil: unbounded on that side) with at most `maxDigits` digits.
    static func alternatives(_ low: Int?, _ high: Int?, maxDigits: Int) throws(GrammarError) -> [[Grammar.Symbol]] {
        let largest = Int(String(repeating: "9", count: maxDigits))!
        let lo = max(low ?? -largest, -largest)
        let hi = min(high ?? largest, largest)
        guard lo <= hi else { throw GrammarError("no integer lies between minimum and maximum") }
        var out: [[Grammar.Symbol]] = []
        if lo < 0 {
            // -a ... -b for the negative part, as "-" followed by b...a.
            let magnitudes = nonNegative(max(1, -min(hi, -1)), -lo)
            out += magnitudes.map { GrammarBuilder.literal("-") + $0 }
        }
        if hi >= 0 { out += nonNegative(max(lo, 0), hi) }
        return out
    }

    static func digitSymbol(_ low: UInt8, _ high: UInt8) -> Grammar.Symbol {
        .bytes(ByteSet((0x30 + low)...(0x30 + high)))
    }

    /// Texts of `low...high`, both non-negative.
    static func nonNegative(_ low: Int, _ high: Int) -> [[Grammar.Symbol]] {
        guard low <= high else { return [] }
        var out: [[Grammar.Symbol]] = []
        var start = low
        while start <= high {
            let digits = String(start).count
            let lengthEnd = min(high, Int(String(repeating: "9", count: digits))!)
            out += sameLength(
                Array(String(start).utf8).map { $0 - 0x30 },
                Array(String(lengthEnd).utf8).map { $0 - 0x30 }
            )
            start = lengthEnd + 1
        }
        return out
    }

    /// Texts between two digit strings of equal length.
    static func sameLength(_ a: [UInt8], _ b: [UInt8]) -> [[Grammar.Symbol]] {
        if a.count == 1 { return [[digitSymbol(a[0], b[0])]] }
        if a[0] == b[0] {
            return sameLength(Array(a.dropFirst()), Array(b.dropFirst())).map { [digitSymbol(a[0], a[0])] + $0 }
        }
        let restA = Array(a.dropFirst())
        let restB = Array(b.dropFirst())
        let allZero = restA.allSatisfy { $0 == 0 }
        let allNine = restB.allSatisfy { $0 == 9 }
        let any = [Grammar.Symbol](repeating: digitSymbol(0, 9), count: a.count - 1)
        var out: [[Grammar.Symbol]] = []
        var firstLow = a[0]
        var firstHigh = b[0]
        if !allZero {
            out += sameLength(restA, [UInt8](repeating: 9, count: restA.count)).map { [digitSymbol(a[0], a[0])] + $0 }
            firstLow += 1
        }
        if !allNine { firstHigh -= 1 }
        if firstLow <= firstHigh { out.append([digitSymbol(firstLow, firstHigh)] + any) }
        if !allNine {
            out += sameLength([UInt8](repeating: 0, count: restB.count), restB).map { [digitSymbol(b[0], b[0])] + $0 }
        }
        return out
    }
}
