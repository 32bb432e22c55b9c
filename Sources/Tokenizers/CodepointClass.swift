/// The Unicode classes the pre-tokenizer regexes ask about (`\p{L}`, `\p{N}`, `\p{M}`, `\p{P}`, `\s`), per
/// code point.
///
/// Letters are general categories L*, numbers N*, marks M*, punctuation P*, whitespace the White_Space
/// property; unassigned code points are `undefined`, which the regexes' negated classes do not match (as in
/// llama.cpp).
struct CodepointClass: OptionSet, Sendable {
    let rawValue: UInt8

    static let letter = CodepointClass(rawValue: 1)
    static let number = CodepointClass(rawValue: 2)
    static let whitespace = CodepointClass(rawValue: 4)
    static let defined = CodepointClass(rawValue: 8)
    static let mark = CodepointClass(rawValue: 16)
    static let punctuation = CodepointClass(rawValue: 32)

    static let ascii: [CodepointClass] = (0..<128).map { compute(Unicode.Scalar(UInt8($0))) }

    @inline(__always)
    static func of(_ scalar: Unicode.Scalar) -> CodepointClass {
        scalar.value < 128 ? ascii[Int(scalar.value)] : compute(scalar)
    }

    static func compute(_ scalar: Unicode.Scalar) -> CodepointClass {
        let properties = scalar.properties
        var result: CodepointClass = []
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            result.insert(.number)
        case .spacingMark, .nonspacingMark, .enclosingMark:
            result.insert(.mark)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            result.insert(.punctuation)
        default:
            break
        }
        if properties.generalCategory != .unassigned { result.insert(.defined) }
        if properties.isWhitespace { result.insert([.whitespace, .defined]) }
        return result
    }

    /// Neither whitespace, letter nor number, but an assigned code point: `[^\s\p{L}\p{N}]`.
    var isOther: Bool { isDisjoint(with: [.letter, .number, .whitespace]) && contains(.defined) }
}
