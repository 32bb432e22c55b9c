/// Renders parsed template nodes: scopes, loops with Jinja2's `loop` object, filters, tests, methods and
/// the globals chat templates call (`raise_exception`, `namespace`, `range`).
struct JinjaInterpreter {
    static let filters: Set<String> = [
        "trim", "length", "count", "tojson", "upper", "lower", "capitalize", "title", "default", "d", "join",
        "replace", "first", "last", "list", "map", "selectattr", "rejectattr", "string", "int", "float", "abs",
        "reverse", "items", "safe", "format", "indent",
    ]
    static let tests: Set<String> = [
        "defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true", "false",
        "mapping", "iterable", "sequence", "equalto", "eq", "==", "ne", "!=", "odd", "even", "divisibleby", "in",
        "lower", "upper",
    ]
    static let functions: Set<String> = ["raise_exception", "namespace", "range"]
    static let methods: Set<String> = [
        "strip", "lstrip", "rstrip", "lower", "upper", "title", "capitalize", "startswith", "endswith", "split",
        "replace", "join", "items", "keys", "values", "get",
    ]

    enum Flow {
        case normal
        case breakLoop
        case continueLoop
    }

    var scopes: [[String: JinjaValue]]
    var output = ""

    init(globals: [String: JinjaValue]) { scopes = [globals] }

    mutating func run(_ nodes: [JinjaNode]) throws(ChatTemplateError) -> Flow {
        for node in nodes {
            switch node {
            case .text(let text): output += text
            case .output(let expr): output += try eval(expr).pythonString
            case .conditional(let branches, let otherwise):
                var taken = false
                for (condition, body) in branches where try eval(condition).isTruthy {
                    taken = true
                    let flow = try run(body)
                    if flow != .normal { return flow }
                    break
                }
                if !taken {
                    let flow = try run(otherwise)
                    if flow != .normal { return flow }
                }
            case .loop(let targets, let over, let filter, let body, let otherwise):
                try runLoop(targets: targets, over: over, filter: filter, body: body, otherwise: otherwise)
            case .assign(let target, let value):
                let v = try eval(value)
                switch target {
                case .name(let name): scopes[scopes.count - 1][name] = v
                case .attribute(let base, let name):
                    guard case .namespace(let ns) = try eval(base) else {
                        throw .render("only namespace() attributes can be assigned")
                    }
                    ns.values.withLock { $0[name] = v }
                default: throw .render("invalid assignment target")
                }
            case .assignBlock(let name, let body):
                var inner = self
                inner.output = ""
                _ = try inner.run(body)
                scopes[scopes.count - 1][name] = .string(inner.output)
            case .breakLoop: return .breakLoop
            case .continueLoop: return .continueLoop
            }
        }
        return .normal
    }

    private mutating func runLoop(
        targets: [String],
        over: JinjaExpr,
        filter: JinjaExpr?,
        body: [JinjaNode],
        otherwise: [JinjaNode]
    ) throws(ChatTemplateError) {
        var items = try Self.iterate(try eval(over))
        if let filter {
            var kept: [JinjaValue] = []
            for item in items {
                scopes.append(try bind(targets, item))
                defer { scopes.removeLast() }
                if try eval(filter).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            _ = try run(otherwise)
            return
        }
        for (i, item) in items.enumerated() {
            var scope = try bind(targets, item)
            var loop = JinjaObject()
            loop["index"] = .int(i + 1)
            loop["index0"] = .int(i)
            loop["revindex"] = .int(items.count - i)
            loop["revindex0"] = .int(items.count - i - 1)
            loop["first"] = .bool(i == 0)
            loop["last"] = .bool(i == items.count - 1)
            loop["length"] = .int(items.count)
            loop["previtem"] = i > 0 ? items[i - 1] : .undefined
            loop["nextitem"] = i + 1 < items.count ? items[i + 1] : .undefined
            scope["loop"] = .object(loop)
            scopes.append(scope)
            let flow = try run(body)
            scopes.removeLast()
            if flow == .breakLoop { break }
        }
    }

    private func bind(_ targets: [String], _ item: JinjaValue) throws(ChatTemplateError) -> [String: JinjaValue] {
        if targets.count == 1 { return [targets[0]: item] }
        guard case .array(let parts) = item, parts.count == targets.count else {
            throw .render("cannot unpack \(item.pythonRepr) into \(targets.count) loop variables")
        }
        return Dictionary(uniqueKeysWithValues: zip(targets, parts))
    }

    static func iterate(_ value: JinjaValue) throws(ChatTemplateError) -> [JinjaValue] {
        switch value {
        case .undefined: []
        case .array(let a): a
        case .string(let s): s.map { .string(String($0)) }
        case .object(let o): o.keys.map { .string($0) }
        default: throw .render("\(value.pythonRepr) is not iterable")
        }
    }

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() {
            if let v = scope[name] { return v }
        }
        return .undefined
    }

    // MARK: Expressions

    func eval(_ expr: JinjaExpr) throws(ChatTemplateError) -> JinjaValue {
        switch expr {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items):
            var values: [JinjaValue] = []
            for item in items { values.append(try eval(item)) }
            return .array(values)
        case .dict(let pairs):
            var object = JinjaObject()
            for (k, v) in pairs { object[try eval(k).pythonString] = try eval(v) }
            return .object(object)
        case .attribute(let base, let name):
            let value = try eval(base)
            if case .array = value, let i = Int(name) { return try Self.subscriptValue(value, .int(i)) }
            return value[name]
        case .index(let base, let key): return try Self.subscriptValue(try eval(base), try eval(key))
        case .slice(let base, let a, let b, let c):
            return try Self.slice(
                try eval(base),
                try a.map { e throws(ChatTemplateError) in try eval(e) },
                try b.map { e throws(ChatTemplateError) in try eval(e) },
                try c.map { e throws(ChatTemplateError) in try eval(e) }
            )
        case .call(let callee, let args, let kwargs):
            let argValues = try args.map { e throws(ChatTemplateError) in try eval(e) }
            var kw: [String: JinjaValue] = [:]
            for (k, v) in kwargs { kw[k] = try eval(v) }
            switch callee {
            case .name(let fn): return try callFunction(fn, argValues, kw)
            case .attribute(let base, let method): return try Self.callMethod(try eval(base), method, argValues)
            default: throw .render("this expression cannot be called")
            }
        case .filter(let base, let name, let args, let kwargs):
            let argValues = try args.map { e throws(ChatTemplateError) in try eval(e) }
            var kw: [String: JinjaValue] = [:]
            for (k, v) in kwargs { kw[k] = try eval(v) }
            return try applyFilter(name, try eval(base), argValues, kw)
        case .test(let base, let name, let args, let negated):
            let result = try Self.applyTest(
                name,
                try eval(base),
                try args.map { e throws(ChatTemplateError) in try eval(e) }
            )
            return .bool(result != negated)
        case .negate(let e):
            switch try eval(e) {
            case .int(let i): return .int(-i)
            case .double(let d): return .double(-d)
            case let v: throw .render("cannot negate \(v.pythonRepr)")
            }
        case .not(let e): return .bool(!(try eval(e).isTruthy))
        case .and(let a, let b):
            let left = try eval(a)
            return left.isTruthy ? try eval(b) : left
        case .or(let a, let b):
            let left = try eval(a)
            return left.isTruthy ? left : try eval(b)
        case .ternary(let condition, let then, let otherwise):
            if try eval(condition).isTruthy { return try eval(then) }
            return try otherwise.map { e throws(ChatTemplateError) in try eval(e) } ?? .undefined
        case .binary(let op, let a, let b): return try Self.binary(op, try eval(a), try eval(b))
        case .compare(let first, let rest):
            var left = try eval(first)
            for (op, rightExpr) in rest {
                let right = try eval(rightExpr)
                guard try Self.compare(op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        }
    }

    func callFunction(
        _ name: String,
        _ args: [JinjaValue],
        _ kwargs: [String: JinjaValue]
    ) throws(ChatTemplateError) -> JinjaValue {
        switch name {
        case "raise_exception": throw .raised(args.first?.pythonString ?? "")
        case "namespace":
            var values = kwargs
            if case .object(let o)? = args.first { for k in o.keys { values[k] = o[k] } }
            return .namespace(JinjaNamespace(values))
        case "range":
            let ints = args.compactMap { if case .int(let i) = $0 { i } else { nil } }
            guard ints.count == args.count, (1...3).contains(ints.count) else {
                throw .render("range() takes 1 to 3 integers")
            }
            let (start, stop, step) =
                ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard step != 0 else { throw .render("range() step must not be zero") }
            let count = max(0, (stop - start + step - (step > 0 ? 1 : -1)) / step)
            guard count <= 100_000 else { throw .render("range() of \(count) values is too large") }
            return .array((0..<count).map { .int(start + $0 * step) })
        default:
            throw .render("'\(name)' is not a function")
        }
    }

    static func subscriptValue(_ base: JinjaValue, _ key: JinjaValue) throws(ChatTemplateError) -> JinjaValue {
        switch (base, key) {
        case (.array(let a), .int(let i)):
            let index = i < 0 ? a.count + i : i
            return a.indices.contains(index) ? a[index] : .undefined
        case (.string(let s), .int(let i)):
            let chars = Array(s)
            let index = i < 0 ? chars.count + i : i
            return chars.indices.contains(index) ? .string(String(chars[index])) : .undefined
        case (.object, .string(let k)), (.namespace, .string(let k)): return base[k]
        case (.undefined, _): return .undefined
        default: return .undefined
        }
    }

    static func slice(
        _ base: JinjaValue,
        _ a: JinjaValue?,
        _ b: JinjaValue?,
        _ c: JinjaValue?
    ) throws(ChatTemplateError)
        -> JinjaValue
    {
        func int(_ v: JinjaValue?) throws(ChatTemplateError) -> Int? {
            switch v {
            case nil, .none?, .undefined?: return nil
            case .int(let i)?: return i
            default: throw .render("slice indices must be integers")
            }
        }
        let step = try int(c) ?? 1
        guard step != 0 else { throw .render("slice step cannot be zero") }
        func pick(_ count: Int) throws(ChatTemplateError) -> [Int] {
            func clamp(_ v: Int?, _ dflt: Int) -> Int {
                guard let v else { return dflt }
                let r = v < 0 ? v + count : v
                return step > 0 ? min(max(r, 0), count) : min(max(r, -1), count - 1)
            }
            let start = clamp(try int(a), step > 0 ? 0 : count - 1)
            let stop = clamp(try int(b), step > 0 ? count : -1)
            return Array(stride(from: start, to: stop, by: step))
        }
        switch base {
        case .array(let items): return .array(try pick(items.count).map { items[$0] })
        case .string(let s):
            let chars = Array(s)
            return .string(String(try pick(chars.count).map { chars[$0] }))
        default: throw .render("\(base.pythonRepr) cannot be sliced")
        }
    }

    static func number(_ v: JinjaValue) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .double(let d): d
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws(ChatTemplateError) -> JinjaValue {
        if op == "~" { return .string(a.pythonString + b.pythonString) }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)): return .string(x + y)
        case ("+", .array(let x), .array(let y)): return .array(x + y)
        case ("*", .string(let s), .int(let n)), ("*", .int(let n), .string(let s)):
            return .string(String(repeating: s, count: max(0, min(n, 1_000_000 / max(s.count, 1)))))
        case ("+", .int(let x), .int(let y)): return .int(x &+ y)
        case ("-", .int(let x), .int(let y)): return .int(x &- y)
        case ("*", .int(let x), .int(let y)): return .int(x &* y)
        case ("//", .int(let x), .int(let y)):
            guard y != 0 else { throw .render("integer division by zero") }
            return .int(Int((Double(x) / Double(y)).rounded(.down)))
        case ("%", .int(let x), .int(let y)):
            guard y != 0 else { throw .render("modulo by zero") }
            return .int(((x % y) + y) % y)
        case ("**", .int(let x), .int(let y)) where y >= 0 && y < 64:
            return .int((0..<y).reduce(1) { r, _ in r &* x })
        default: break
        }
        guard let x = number(a), let y = number(b) else {
            throw .render("unsupported operand types for \(op): \(a.pythonRepr) and \(b.pythonRepr)")
        }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw .render("division by zero") }
            return .double(x / y)
        case "//":
            guard y != 0 else { throw .render("division by zero") }
            return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw .render("modulo by zero") }
            return .double(x - y * (x / y).rounded(.down))
        case "**": return .double(power(x, y))
        default: throw .render("unknown operator \(op)")
        }
    }

    static func power(_ x: Double, _ y: Double) -> Double {
        var result = 1.0
        if y == y.rounded(), abs(y) < 64 {
            for _ in 0..<Int(abs(y)) { result *= x }
            return y < 0 ? 1 / result : result
        }
        return .nan
    }

    static func equal(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
        if case .bool = a, case .bool = b { return a == b }
        if let x = number(a), let y = number(b), !(a.isString || b.isString) { return x == y }
        switch (a, b) {
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.undefined, .undefined), (.none, .none): return true
        default: return a == b
        }
    }

    static func compare(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws(ChatTemplateError) -> Bool {
        switch op {
        case "==": return equal(a, b)
        case "!=": return !equal(a, b)
        case "in": return try contains(b, a)
        case "not in": return !(try contains(b, a))
        default: break
        }
        let ordered: Bool?
        switch (a, b) {
        case (.string(let x), .string(let y)):
            ordered = op == "<" ? x < y : op == "<=" ? x <= y : op == ">" ? x > y : x >= y
        default:
            if let x = number(a), let y = number(b) {
                ordered = op == "<" ? x < y : op == "<=" ? x <= y : op == ">" ? x > y : x >= y
            } else {
                ordered = nil
            }
        }
        guard let ordered else { throw .render("cannot compare \(a.pythonRepr) \(op) \(b.pythonRepr)") }
        return ordered
    }

    static func contains(_ container: JinjaValue, _ item: JinjaValue) throws(ChatTemplateError) -> Bool {
        switch (container, item) {
        case (.string(let s), .string(let sub)): return sub.isEmpty || s.contains(sub)
        case (.array(let a), _): return a.contains { equal($0, item) }
        case (.object(let o), .string(let k)): return o.contains(k)
        case (.undefined, _): return false
        default: throw .render("'in' needs a string, list or mapping, not \(container.pythonRepr)")
        }
    }

    // MARK: Filters, tests and methods

    func applyFilter(
        _ name: String,
        _ value: JinjaValue,
        _ args: [JinjaValue],
        _ kwargs: [String: JinjaValue]
    )
        throws(ChatTemplateError) -> JinjaValue
    {
        switch name {
        case "trim": return .string(value.pythonString.trimmingPythonWhitespace())
        case "length", "count":
            switch value {
            case .string(let s): return .int(s.count)
            case .array(let a): return .int(a.count)
            case .object(let o): return .int(o.keys.count)
            case .undefined: return .int(0)
            default: throw .render("\(value.pythonRepr) has no length")
            }
        case "tojson":
            let indent: Int? = if case .int(let n)? = kwargs["indent"] ?? args.first { n } else { nil }
            return .string(value.json(indent: indent))
        case "upper": return .string(value.pythonString.uppercased())
        case "lower": return .string(value.pythonString.lowercased())
        case "capitalize":
            let s = value.pythonString
            return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "title": return .string(Self.titleCase(value.pythonString))
        case "default", "d":
            let fallback = args.first ?? kwargs["default_value"] ?? .string("")
            let boolean = (args.count > 1 ? args[1] : kwargs["boolean"])?.isTruthy ?? false
            if case .undefined = value { return fallback }
            return boolean && !value.isTruthy ? fallback : value
        case "join":
            let separator = args.first?.pythonString ?? ""
            let attribute = kwargs["attribute"]?.pythonString
            let items = try Self.iterate(value).map { item in attribute.map { item[$0] } ?? item }
            return .string(items.map(\.pythonString).joined(separator: separator))
        case "replace":
            guard args.count >= 2 else { throw .render("replace needs two arguments") }
            return .string(value.pythonString.replacingAll(args[0].pythonString, with: args[1].pythonString))
        case "first": return try Self.iterate(value).first ?? .undefined
        case "last": return try Self.iterate(value).last ?? .undefined
        case "list": return .array(try Self.iterate(value))
        case "reverse":
            if case .string(let s) = value { return .string(String(s.reversed())) }
            return .array(try Self.iterate(value).reversed())
        case "items":
            guard case .object(let o) = value else { return .array([]) }
            return .array(o.keys.map { .array([.string($0), o[$0]]) })
        case "map":
            if let attribute = kwargs["attribute"]?.pythonString {
                return .array(try Self.iterate(value).map { $0[attribute] })
            }
            guard let filter = args.first?.pythonString, Self.filters.contains(filter), filter != "map" else {
                throw .render("map needs attribute= or a filter name")
            }
            var out: [JinjaValue] = []
            for item in try Self.iterate(value) {
                out.append(try applyFilter(filter, item, Array(args.dropFirst()), [:]))
            }
            return .array(out)
        case "selectattr", "rejectattr":
            guard let attribute = args.first?.pythonString else { throw .render("\(name) needs an attribute name") }
            let test = args.count > 1 ? args[1].pythonString : nil
            var out: [JinjaValue] = []
            for item in try Self.iterate(value) {
                let field = item[attribute]
                let passes =
                    try test.map { t throws(ChatTemplateError) in try Self.applyTest(t, field, Array(args.dropFirst(2)))
                    } ?? field.isTruthy
                if passes == (name == "selectattr") { out.append(item) }
            }
            return .array(out)
        case "string": return .string(value.pythonString)
        case "int":
            switch value {
            case .int: return value
            case .double(let d): return .int(Int(d))
            case .bool(let b): return .int(b ? 1 : 0)
            case .string(let s): return .int(Int(s.trimmingPythonWhitespace()) ?? 0)
            default: return .int(0)
            }
        case "float":
            return .double(Self.number(value) ?? Double(value.pythonString.trimmingPythonWhitespace()) ?? 0)
        case "abs":
            switch value {
            case .int(let i): return .int(abs(i))
            case .double(let d): return .double(abs(d))
            default: throw .render("abs needs a number")
            }
        case "safe": return value
        case "format":
            var s = value.pythonString
            for arg in args {
                guard let range = s.firstRange(of: "%s") else { break }
                s.replaceSubrange(range, with: arg.pythonString)
            }
            return .string(s)
        case "indent":
            let width = if case .int(let n)? = args.first ?? kwargs["width"] { n } else { 4 }
            let pad = String(repeating: " ", count: width)
            let lines = value.pythonString.split(separator: "\n", omittingEmptySubsequences: false)
            return .string(
                lines.enumerated().map { $0.offset == 0 || $0.element.isEmpty ? String($0.element) : pad + $0.element }
                    .joined(separator: "\n")
            )
        default:
            throw .unsupported("filter '\(name)'", line: 0)
        }
    }

    static func applyTest(_ name: String, _ value: JinjaValue, _ args: [JinjaValue]) throws(ChatTemplateError) -> Bool {
        switch name {
        case "defined": if case .undefined = value { return false } else { return true }
        case "undefined": if case .undefined = value { return true } else { return false }
        case "none": return value == .none
        case "string": return value.isString
        case "number":
            if case .int = value { return true } else if case .double = value { return true } else { return false }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": return value == .bool(true)
        case "false": return value == .bool(false)
        case "mapping": if case .object = value { return true } else { return false }
        case "iterable", "sequence":
            switch value {
            case .array, .string, .object: return true
            default: return false
            }
        case "equalto", "eq", "==": return equal(value, args.first ?? .undefined)
        case "ne", "!=": return !equal(value, args.first ?? .undefined)
        case "odd": if case .int(let i) = value { return i % 2 != 0 } else { return false }
        case "even": if case .int(let i) = value { return i % 2 == 0 } else { return false }
        case "divisibleby":
            guard case .int(let i) = value, case .int(let d)? = args.first, d != 0 else { return false }
            return i % d == 0
        case "in": return try contains(args.first ?? .undefined, value)
        case "lower": return value.pythonString == value.pythonString.lowercased()
        case "upper": return value.pythonString == value.pythonString.uppercased()
        default: throw .unsupported("test '\(name)'", line: 0)
        }
    }

    static func callMethod(
        _ base: JinjaValue,
        _ method: String,
        _ args: [JinjaValue]
    ) throws(ChatTemplateError) -> JinjaValue {
        switch (base, method) {
        case (.string(let s), "strip"):
            return .string(args.isEmpty ? s.trimmingPythonWhitespace() : s.trimming(args[0].pythonString))
        case (.string(let s), "lstrip"):
            let chars = args.first?.pythonString
            return .string(String(s.drop { chars?.contains($0) ?? $0.isPythonWhitespace }))
        case (.string(let s), "rstrip"):
            let chars = args.first?.pythonString
            return .string(String(s.reversed().drop { chars?.contains($0) ?? $0.isPythonWhitespace }.reversed()))
        case (.string(let s), "lower"): return .string(s.lowercased())
        case (.string(let s), "upper"): return .string(s.uppercased())
        case (.string(let s), "title"): return .string(titleCase(s))
        case (.string(let s), "capitalize"): return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case (.string(let s), "startswith"): return .bool(s.hasPrefix(args.first?.pythonString ?? ""))
        case (.string(let s), "endswith"): return .bool(s.hasSuffix(args.first?.pythonString ?? ""))
        case (.string(let s), "split"):
            if let separator = args.first?.pythonString, !separator.isEmpty, args.first != JinjaValue.none {
                return .array(s.components(separatedBy: separator).map { .string($0) })
            }
            return .array(s.split(whereSeparator: \.isPythonWhitespace).map { .string(String($0)) })
        case (.string(let s), "replace"):
            guard args.count >= 2 else { throw .render("replace() needs two arguments") }
            return .string(s.replacingAll(args[0].pythonString, with: args[1].pythonString))
        case (.string(let s), "join"):
            return .string(try iterate(args.first ?? .array([])).map(\.pythonString).joined(separator: s))
        case (.object(let o), "items"): return .array(o.keys.map { .array([.string($0), o[$0]]) })
        case (.object(let o), "keys"): return .array(o.keys.map { .string($0) })
        case (.object(let o), "values"): return .array(o.keys.map { o[$0] })
        case (.object(let o), "get"):
            let value = o[args.first?.pythonString ?? ""]
            if case .undefined = value { return args.count > 1 ? args[1] : .none }
            return value
        default:
            throw .render("\(base.pythonRepr.prefix(40)) has no method '\(method)'")
        }
    }

    static func titleCase(_ s: String) -> String {
        var out = ""
        var previousIsLetter = false
        for ch in s {
            out += previousIsLetter ? ch.lowercased() : ch.uppercased()
            previousIsLetter = ch.isLetter
        }
        return out
    }
}

extension JinjaValue {
    var isString: Bool {
        if case .string = self { return true }
        return false
    }
}

extension Character {
    var isPythonWhitespace: Bool { unicodeScalars.allSatisfy { $0.properties.isWhitespace } }
}

extension String {
    func trimmingPythonWhitespace() -> String {
        guard let start = firstIndex(where: { !$0.isPythonWhitespace }) else { return "" }
        let end = lastIndex(where: { !$0.isPythonWhitespace })!
        return String(self[start...end])
    }

    func trimming(_ characters: String) -> String {
        guard let start = firstIndex(where: { !characters.contains($0) }) else { return "" }
        let end = lastIndex(where: { !characters.contains($0) })!
        return String(self[start...end])
    }

    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        return components(separatedBy: target).joined(separator: replacement)
    }

    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = self[...]
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
