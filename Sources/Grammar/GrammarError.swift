import SwerveCore

/// Why a constraint cannot be compiled: what is wrong and where (a JSON pointer into the schema, a line
/// and column of a grammar, an offset in a regex), in words a client can act on. The server answers
/// every one with a 400.
public struct GrammarError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    /// Where the problem is: `#/properties/age/minimum`, `line 3, column 7`, `regex offset 4`.
    public var location: String?

    public init(_ message: String, at location: String? = nil) {
        self.message = message
        self.location = location
    }

    public var description: String { location.map { "\(message) (at \($0))" } ?? message }

    /// A schema (or other JSON) that does not parse.
    public init(_ error: JSONError) { self.init("invalid JSON: \(error.message)", at: "byte \(error.offset)") }

    /// The grammar grew past the size bound.
    static func tooLarge(_ limit: Int) -> GrammarError {
        GrammarError("the constraint is too large: its grammar would exceed \(limit) symbols; simplify it")
    }
}
