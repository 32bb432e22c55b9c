/// A model's chat template (`tokenizer.chat_template`), parsed once when the model loads and rendered per request.
///
/// Implements the Jinja2 subset chat templates use (see `JinjaInterpreter` for the filters, tests and
/// methods), with Hugging Face's `apply_chat_template` settings: `trim_blocks`, `lstrip_blocks`, `tojson`
/// without ASCII escaping, and `raise_exception`. A template using anything outside the subset fails at
/// load time with the construct and line, never rendering a silently wrong prompt. Written here because no
/// Swift package renders Jinja2 faithfully enough for prompts.
public struct ChatTemplate: Sendable {
    public let source: String
    let nodes: [JinjaNode]

    public init(_ source: String) throws(ChatTemplateError) {
        self.source = source
        nodes = try JinjaParser.parse(source)
        try Self.check(nodes)
    }

    /// Renders `messages` (a list of `{role, content, ...}` objects).
    public func render(
        messages: JinjaValue,
        addGenerationPrompt: Bool,
        bosToken: String = "",
        eosToken: String = "",
        extra: [String: JinjaValue] = [:]
    ) throws(ChatTemplateError) -> String {
        var globals = extra
        globals["messages"] = messages
        globals["add_generation_prompt"] = .bool(addGenerationPrompt)
        globals["bos_token"] = .string(bosToken)
        globals["eos_token"] = .string(eosToken)
        var interpreter = JinjaInterpreter(globals: globals)
        _ = try interpreter.run(nodes)
        return interpreter.output
    }

    /// Rejects filters, tests and functions outside the subset before any request renders.
    static func check(_ nodes: [JinjaNode]) throws(ChatTemplateError) {
        for node in nodes {
            switch node {
            case .text, .breakLoop, .continueLoop: break
            case .output(let e): try check(e)
            case .conditional(let branches, let otherwise):
                for (condition, body) in branches {
                    try check(condition)
                    try check(body)
                }
                try check(otherwise)
            case .loop(_, let over, let filter, let body, let otherwise):
                try check(over)
                if let filter { try check(filter) }
                try check(body)
                try check(otherwise)
            case .assign(let target, let value):
                try check(target)
                try check(value)
            case .assignBlock(_, let body): try check(body)
            }
        }
    }

    static func check(_ expr: JinjaExpr) throws(ChatTemplateError) {
        switch expr {
        case .literal, .name: break
        case .list(let items): for item in items { try check(item) }
        case .dict(let pairs):
            for (k, v) in pairs {
                try check(k)
                try check(v)
            }
        case .attribute(let base, _), .negate(let base), .not(let base): try check(base)
        case .index(let a, let b), .binary(_, let a, let b), .and(let a, let b), .or(let a, let b):
            try check(a)
            try check(b)
        case .slice(let base, let a, let b, let c):
            try check(base)
            for part in [a, b, c] { if let part { try check(part) } }
        case .call(let callee, let args, let kwargs):
            switch callee {
            case .name(let fn):
                guard JinjaInterpreter.functions.contains(fn) else { throw .unsupported("function '\(fn)'", line: 0) }
            case .attribute(let base, let method):
                guard JinjaInterpreter.methods.contains(method) else {
                    throw .unsupported("method '.\(method)()'", line: 0)
                }
                try check(base)
            default: throw .unsupported("calling an expression", line: 0)
            }
            for arg in args + kwargs.map(\.1) { try check(arg) }
        case .filter(let base, let name, let args, let kwargs):
            guard JinjaInterpreter.filters.contains(name) else { throw .unsupported("filter '\(name)'", line: 0) }
            try check(base)
            for arg in args + kwargs.map(\.1) { try check(arg) }
        case .test(let base, let name, let args, _):
            guard JinjaInterpreter.tests.contains(name) else { throw .unsupported("test '\(name)'", line: 0) }
            try check(base)
            for arg in args { try check(arg) }
        case .compare(let first, let rest):
            try check(first)
            for (_, e) in rest { try check(e) }
        case .ternary(let c, let t, let o):
            try check(c)
            try check(t)
            if let o { try check(o) }
        }
    }
}

/// Why a chat template could not be loaded or rendered.
public enum ChatTemplateError: Error, Equatable, CustomStringConvertible {
    /// The template is not valid Jinja2.
    case syntax(String, line: Int)
    /// The template uses a construct outside the supported subset.
    case unsupported(String, line: Int)
    /// Rendering failed (a type error in the template or its inputs).
    case render(String)
    /// The template called `raise_exception` (for example, roles that do not alternate).
    case raised(String)
    case invalidJSON(String)

    public var description: String {
        switch self {
        case .syntax(let message, let line):
            "chat template syntax error\(line > 0 ? " on line \(line)" : ""): \(message)"
        case .unsupported(let what, let line):
            "chat template uses \(what)\(line > 0 ? " on line \(line)" : ""), which Swerve's Jinja subset does not support"
        case .render(let message): "chat template failed to render: \(message)"
        case .raised(let message): "chat template rejected the conversation: \(message)"
        case .invalidJSON(let message): "invalid JSON: \(message)"
        }
    }
}
