import Foundation
import SwerveCore
import Synchronization

/// What a request asks its output to be, as vLLM's `structured_outputs` (and OpenAI's `response_format`)
/// say it: a JSON Schema, any JSON object, a regex, one of some strings, or an EBNF grammar. Hashable by
/// its canonical text: the key of the compiled-constraint cache.
public enum ConstraintSpec: Hashable, Sendable, CustomStringConvertible {
    /// The schema's compact JSON text.
    case jsonSchema(String)
    case jsonObject
    case regex(String)
    case choice([String])
    case grammar(String)

    /// Longest constraint text accepted (schema, regex or grammar).
    public static let maxTextBytes = 256 * 1024

    public var description: String {
        switch self {
        case .jsonSchema: "json"
        case .jsonObject: "json_object"
        case .regex: "regex"
        case .choice: "choice"
        case .grammar: "grammar"
        }
    }
}

/// One compiled constraint: the automaton every request with this constraint shares, how to check a
/// finished answer, and, for `choice`, the alternatives one-pass classification scores. Equal when
/// identical (one compiled object per spec in the cache).
public final class StructuredConstraint: Sendable, Equatable {
    public static func == (a: StructuredConstraint, b: StructuredConstraint) -> Bool { a === b }

    public let spec: ConstraintSpec
    public let automaton: GrammarAutomaton
    let schema: JSONValue?
    /// The texts the output must be one of (`choice`), for scoring every alternative in one pass.
    public let choices: [String]?
    /// A `regex` constraint's checker (nil past `RegexMatcher.stateLimit`: the automaton checks instead).
    let matcher: RegexMatcher?
    /// Seconds compiling took (grammar, automaton and the first mask).
    public let compileSeconds: Double

    /// Compiles `spec` for `vocabulary`. Bounded: a grammar over `GrammarBuilder.defaultLimit` symbols, a
    /// text over `ConstraintSpec.maxTextBytes`, or a first token mask slower than `timeLimit` is refused.
    public init(_ spec: ConstraintSpec, vocabulary: TokenVocabulary, timeLimit: Double = 5) throws(GrammarError) {
        let started = DispatchTime.now().uptimeNanoseconds
        self.spec = spec
        var schema: JSONValue?
        var choices: [String]?
        var matcher: RegexMatcher?
        let grammar: Grammar
        switch spec {
        case .jsonSchema(let text):
            try Self.checkSize(text, "the JSON schema")
            let parsed: JSONValue
            do { parsed = try JSONValue.parse(text) } catch { throw GrammarError(error) }
            schema = parsed
            grammar = try JSONSchemaCompiler.grammar(parsed)
        case .jsonObject:
            grammar = JSONSchemaCompiler.anyObjectGrammar()
        case .regex(let pattern):
            try Self.checkSize(pattern, "the regex")
            grammar = try Regex.grammar(pattern)
            matcher = try? RegexMatcher(pattern)
        case .choice(let options):
            guard !options.isEmpty else { throw GrammarError("choice must list at least one string") }
            try Self.checkSize(options.joined(), "the choices")
            var b = GrammarBuilder()
            let root = try b.rule("root", options.map { GrammarBuilder.literal($0) })
            grammar = try b.build(root: root)
            choices = options
        case .grammar(let text):
            try Self.checkSize(text, "the grammar")
            grammar = try EBNF.grammar(text)
        }
        self.schema = schema
        self.choices = choices
        self.matcher = matcher
        automaton = GrammarAutomaton(grammar: try CompiledGrammar(grammar), vocabulary: vocabulary)
        // The first mask walks the vocabulary for each starting position: pay it here, bounded.
        let first = automaton.mask(automaton.initialState, deadline: started + UInt64(timeLimit * 1e9))
        guard let first else {
            throw GrammarError("the constraint is too complex: preparing its first token mask took over \(timeLimit) s")
        }
        // An answer must start with some token (or end at once, where the constraint accepts ""): if none of
        // the vocabulary can, no answer is possible, and the request is refused rather than answered wrongly.
        guard first.contains(where: { $0 != 0 }) else {
            throw GrammarError("no token of the model's vocabulary can begin an answer this constraint accepts")
        }
        compileSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }

    static func checkSize(_ text: String, _ what: String) throws(GrammarError) {
        guard text.utf8.count <= ConstraintSpec.maxTextBytes else {
            throw GrammarError("\(what) is longer than \(ConstraintSpec.maxTextBytes) bytes")
        }
    }

    /// nil when `text` is a valid answer for the constraint, else why not (checked before an answer that
    /// ended by the grammar's own end is returned).
    public func violation(_ text: String) -> String? {
        switch spec {
        case .jsonSchema:
            do {
                return JSONSchemaValidator(schema: schema!).violation(try JSONValue.parse(text))
            } catch {
                return error.description
            }
        case .jsonObject:
            do {
                guard case .object = try JSONValue.parse(text) else { return "the answer is not a JSON object" }
                return nil
            } catch {
                return error.description
            }
        case .regex:
            guard let matcher else { return automatonViolation(text, "regex") }
            return matcher.matchesWhole(text) ? nil : "the answer does not match the regex"
        case .choice(let options):
            return options.contains(text) ? nil : "the answer is not one of the choices"
        case .grammar:
            return automatonViolation(text, "grammar")
        }
    }

    /// The grammar's own verdict on `text`, from its byte automaton (not the token masks that generated it).
    func automatonViolation(_ text: String, _ what: String) -> String? {
        let state = automaton.run(from: automaton.initialState, bytes: Array(text.utf8))
        return state != GrammarAutomaton.dead && automaton.canEnd(state) ? nil : "the answer does not match the \(what)"
    }
}

/// Compiled constraints by spec for one vocabulary, least recently used evicted, so a schema sent with every
/// request (Pika's) is compiled once. A short lock around the table; compiling happens outside it.
public final class ConstraintCache: Sendable {
    public let vocabulary: TokenVocabulary
    let capacity: Int
    let table = Mutex<(entries: [ConstraintSpec: (StructuredConstraint, UInt64)], clock: UInt64)>(([:], 0))

    public init(vocabulary: TokenVocabulary, capacity: Int = 64) {
        self.vocabulary = vocabulary
        self.capacity = capacity
    }

    /// The compiled constraint for `spec` if it is cached (and not grown past its state bound).
    public func cached(_ spec: ConstraintSpec) -> StructuredConstraint? {
        let hit: StructuredConstraint? = table.withLock { t in
            guard let (found, _) = t.entries[spec] else { return nil }
            t.clock += 1
            t.entries[spec] = (found, t.clock)
            return found
        }
        return hit.flatMap { $0.automaton.stateCount < GrammarAutomaton.stateLimit ? $0 : nil }
    }

    /// The compiled constraint for `spec`, compiling it on a miss.
    public func constraint(_ spec: ConstraintSpec) throws(GrammarError) -> StructuredConstraint {
        if let hit = cached(spec) { return hit }
        let compiled = try StructuredConstraint(spec, vocabulary: vocabulary)
        table.withLock { t in
            t.clock += 1
            t.entries[spec] = (compiled, t.clock)
            if t.entries.count > capacity, let oldest = t.entries.min(by: { $0.value.1 < $1.value.1 })?.key {
                t.entries[oldest] = nil
            }
        }
        return compiled
    }
}

/// One sequence's position in its constraint: the automaton state after the tokens so far.
public struct GrammarMatcher: Sendable {
    public let constraint: StructuredConstraint
    public private(set) var state: Int32

    public init(_ constraint: StructuredConstraint) {
        self.constraint = constraint
        state = constraint.automaton.initialState
    }

    public var automaton: GrammarAutomaton { constraint.automaton }
    public var isDead: Bool { state == GrammarAutomaton.dead }
    /// The grammar may end here (end of sequence is allowed).
    public var canEnd: Bool { !isDead && automaton.canEnd(state) }
    /// Nothing but the end may follow.
    public var mustEnd: Bool { !isDead && automaton.mustEnd(state) }

    /// Advances by `token`; false (and dead) if the grammar refuses it.
    @discardableResult
    public mutating func accept(_ token: Int32) -> Bool {
        guard !isDead else { return false }
        state = automaton.advance(state, token: token)
        return !isDead
    }

    public func allows(_ token: Int32) -> Bool { !isDead && automaton.allows(state, token: token) }
}
