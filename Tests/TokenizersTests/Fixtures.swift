import Foundation
import TestSupport
import Tokenizers

/// llama.cpp's token ids for the corpus (scripts/make-fixtures.py).
struct TokenizerFixture: Decodable {
    struct Case: Decodable {
        var pre: String
        var text: String
        var ids: [Int]
    }

    struct Pika: Decodable {
        /// The seed's request body, verbatim (../shared/pika/sample_request.json).
        var request: String
        var rendered: String
        var ids: [Int]
    }

    var model_sha256: String
    var cases: [Case]
    var pika: Pika
}

/// Jinja2's renderings of common templates (scripts/make-fixtures.py).
struct TemplateFixture: Decodable {
    struct Case: Decodable {
        var template: String
        var messages: String
        /// The template's variables, as JSON text (keys in order).
        var context: String
        var expected: String?
        var error: String?
    }

    var templates: [String: String]
    var cases: [Case]
}

let tokenizerFixture = try! loadFixture("tokenizer-parity", as: TokenizerFixture.self, in: .module)
let templateFixture = try! loadFixture("chat-templates", as: TemplateFixture.self, in: .module)
