import SwerveCore
import Synchronization

/// A value inside a chat template: Python's data model as Jinja2 sees it (None, bools, ints, floats,
/// strings, lists, insertion-ordered dicts), plus `undefined` for missing names and keys.
///
/// Printing and `tojson` follow Python (`True`, `None`, `['a', 'b']`), so rendered prompts are
/// byte-identical to what Hugging Face's `apply_chat_template` produces.
public enum JinjaValue: Sendable, Equatable {
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    case object(JinjaObject)
    /// A `namespace()`: the one mutable value, shared by reference.
    case namespace(JinjaNamespace)

    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .array(let a): !a.isEmpty
        case .object(let o): !o.keys.isEmpty
        case .namespace: true
        }
    }

    public subscript(key: String) -> JinjaValue {
        switch self {
        case .object(let o): o[key]
        case .namespace(let n): n.values.withLock { $0[key] ?? .undefined }
        default: .undefined
        }
    }

    /// Python's `str()`.
    public var pythonString: String {
        switch self {
        case .undefined: ""
        case .string(let s): s
        default: pythonRepr
        }
    }

    /// Python's `repr()`.
    public var pythonRepr: String {
        switch self {
        case .undefined: ""
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .double(let d): Self.pythonFloat(d)
        case .string(let s): Self.pythonQuote(s)
        case .array(let a): "[" + a.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .object(let o):
            "{" + o.keys.map { "\(Self.pythonQuote($0)): \(o[$0].pythonRepr)" }.joined(separator: ", ") + "}"
        case .namespace: "<Namespace>"
        }
    }

    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        // Whole floats print with one decimal, as Python's repr does (3.0, -2.0).
        if d == d.rounded() && abs(d) < 1e16 { return String(Int(d)) + ".0" }
        return "\(d)"
    }

    static func pythonQuote(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for ch in s.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(ch) == quote {
                    out += "\\\(quote)"
                } else if ch.value < 0x20 || ch.value == 0x7F {
                    out += "\\x" + String(ch.value, radix: 16).leftPadded(2)
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        out.append(quote)
        return out
    }

    /// `json.dumps(value, ensure_ascii=False)` with Python's default separators, or an indented form.
    public func json(indent: Int? = nil, level: Int = 0) -> String {
        switch self {
        case .undefined, .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            return d.isFinite ? Self.pythonFloat(d) : (d.isNaN ? "NaN" : (d < 0 ? "-Infinity" : "Infinity"))
        case .string(let s): return Self.jsonQuote(s)
        case .namespace: return "{}"
        case .array(let a):
            if a.isEmpty { return "[]" }
            guard let indent else { return "[" + a.map { $0.json() }.joined(separator: ", ") + "]" }
            let pad = String(repeating: " ", count: indent * (level + 1))
            let items = a.map { pad + $0.json(indent: indent, level: level + 1) }
            return "[\n" + items.joined(separator: ",\n") + "\n" + String(repeating: " ", count: indent * level) + "]"
        case .object(let o):
            if o.keys.isEmpty { return "{}" }
            guard let indent else {
                return "{" + o.keys.map { "\(Self.jsonQuote($0)): \(o[$0].json())" }.joined(separator: ", ") + "}"
            }
            let pad = String(repeating: " ", count: indent * (level + 1))
            let items = o.keys.map { "\(pad)\(Self.jsonQuote($0)): \(o[$0].json(indent: indent, level: level + 1))" }
            return "{\n" + items.joined(separator: ",\n") + "\n" + String(repeating: " ", count: indent * level) + "}"
        }
    }

    static func jsonQuote(_ s: String) -> String { JSONValue.quote(s) }
}

/// An insertion-ordered string-keyed dictionary, as Python's dict is.
public struct JinjaObject: Sendable, Equatable {
    public private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    public init() {}

    public init(_ pairs: [(String, JinjaValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public subscript(key: String) -> JinjaValue {
        get { storage[key] ?? .undefined }
        set {
            if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
        }
    }

    public func contains(_ key: String) -> Bool { storage[key] != nil }
}

/// Storage of a `namespace()` value.
public final class JinjaNamespace: Sendable, Equatable {
    let values: Mutex<[String: JinjaValue]>

    init(_ values: [String: JinjaValue]) { self.values = Mutex(values) }

    public static func == (lhs: JinjaNamespace, rhs: JinjaNamespace) -> Bool { lhs === rhs }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
