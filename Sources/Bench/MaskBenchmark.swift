import Engine
import Grammar
import SwerveCore
import Tokenizers

/// What one token mask costs per decoding step: a schema compiled for a model's vocabulary, and answers
/// that satisfy it (tokenized as a model writes them) replayed token by token, timing the mask before each
/// token. Compilation includes every position's token verdicts (as xgrammar's compiler builds its adaptive
/// token mask cache; the server computes them lazily instead). Two figures per step: `first` recomputes the
/// state's mask from those verdicts (what a state costs the first time, comparable to xgrammar's
/// `fill_next_token_bitmask`), and `cached` is the per-state cache Swerve keeps across requests.
/// `scripts/compare-masks` replays the same token ids through xgrammar.
public struct MaskBenchmark: Sendable {
    public let name: String
    public let schema: String
    /// Valid answers, as JSON text.
    public let answers: [String]

    /// The Pika schema and every emotion × learn score answer.
    public static let pika = MaskBenchmark(
        name: "pika",
        schema: PikaWorkload.responseSchema,
        answers: PikaWorkload.emotions.flatMap { emotion in
            [true, false].map { #"{"emotion":"\#(emotion)","learn_score":\#($0)}"# }
        }
    )

    /// A nested schema: objects in arrays in objects, an optional member, bounded integers, free and
    /// length-bounded strings, an enum, a nullable field and a `$ref`.
    public static let nested = MaskBenchmark(
        name: "nested",
        schema: #"""
            {"type":"object","$defs":{"lesson":{"type":"object","properties":{"word":{"type":"string","maxLength":24},
            "score":{"type":"integer","minimum":0,"maximum":100},"mood":{"enum":["happy","sad","curious","proud"]},
            "note":{"type":["string","null"]}},"required":["word","score","mood","note"]}},
            "properties":{"child":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer",
            "minimum":3,"maximum":12},"level":{"type":"string","enum":["A1","A2","B1"]}},"required":["name","age"]},
            "lessons":{"type":"array","items":{"$ref":"#/$defs/lesson"},"minItems":1,"maxItems":4},
            "passed":{"type":"boolean"}},"required":["child","lessons","passed"]}
            """#,
        answers: [
            #"{"child":{"name":"Bé Hà","age":6},"lessons":[{"word":"apple","score":90,"mood":"happy","note":null}],"passed":true}"#,
            #"{"child":{"name":"Minh","age":9,"level":"A2"},"lessons":[{"word":"banana","score":75,"mood":"curious","note":"said it twice"},{"word":"cat","score":100,"mood":"proud","note":null}],"passed":true}"#,
            #"{"child":{"name":"Lan Anh","age":4,"level":"A1"},"lessons":[{"word":"dog","score":12,"mood":"sad","note":"Tớ buồn quá"}],"passed":false}"#,
            #"{"child":{"name":"Tom","age":12},"lessons":[{"word":"elephant","score":55,"mood":"happy","note":null},{"word":"fish","score":60,"mood":"happy","note":null},{"word":"grape","score":0,"mood":"sad","note":"could not hear"}],"passed":false}"#,
            #"{"child":{"name":"Quân","age":7,"level":"B1"},"lessons":[{"word":"how are you","score":88,"mood":"proud","note":"Great job! You said it perfectly!"}],"passed":true}"#,
        ]
    )

    public static let all = [pika, nested]

    public init(name: String, schema: String, answers: [String]) {
        self.name = name
        self.schema = schema
        self.answers = answers
    }

    /// Per-step timings in microseconds.
    public struct Result: Sendable {
        public var name: String
        public var compileMilliseconds: Double
        public var steps: Int
        public var first: [Double]
        public var cached: [Double]
    }

    /// Each answer's token ids, refusing an answer the compiled grammar does not accept.
    public func trajectories(_ tokenizer: any Tokenizer, _ constraint: StructuredConstraint) throws -> [[Int32]] {
        try answers.map { answer in
            let ids = tokenizer.encode(answer, parseSpecial: false, addBOS: false).map(Int32.init)
            var matcher = GrammarMatcher(constraint)
            for id in ids where !matcher.accept(id) {
                throw GrammarError("the benchmark answer \(answer) does not satisfy its own schema")
            }
            guard matcher.canEnd else { throw GrammarError("the benchmark answer \(answer) is incomplete") }
            return ids
        }
    }

    /// Compiles the schema (timed) on `cache`'s vocabulary and replays every answer `rounds` times.
    public func run(_ tokenizer: any Tokenizer, vocabulary: TokenVocabulary, rounds: Int) throws -> Result {
        let started = Monotonic.seconds()
        let constraint = try StructuredConstraint(.jsonSchema(schema), vocabulary: vocabulary)
        // Every position's verdicts, as xgrammar's compiler builds its token mask cache up front.
        constraint.automaton.precomputeVerdicts()
        let compile = (Monotonic.seconds() - started) * 1e3
        let paths = try trajectories(tokenizer, constraint)
        var result = Result(name: name, compileMilliseconds: compile, steps: 0, first: [], cached: [])
        let automaton = constraint.automaton
        for _ in 0..<rounds {
            for path in paths {
                var state = automaton.initialState
                for token in path + [vocabulary.endOfSequence.min()!] {
                    let (mask, first) = Monotonic.time { automaton.uncachedMask(state) }
                    result.first.append(first * 1e6)
                    let (again, cached) = Monotonic.time { automaton.mask(state) }
                    result.cached.append(cached * 1e6)
                    precondition(mask == again && mask[Int(token) >> 6] & (1 << UInt64(token & 63)) != 0)
                    state = automaton.advance(state, token: token)
                    result.steps += 1
                }
            }
        }
        return result
    }
}
