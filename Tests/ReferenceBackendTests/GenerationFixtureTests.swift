import Foundation
import Models
import TestSupport
import Testing
import Tokenizers

/// llama.cpp's greedy continuations and logits (scripts/make-fixtures.py): the forward pass's referee.
/// Until the forward pass exists, its prompt side already checks that both models' prompts tokenize to
/// exactly the ids llama.cpp evaluated.
struct GreedyFixture: Decodable {
    struct Case: Decodable {
        var model: String
        var kind: String
        var prompt: String
        var prompt_ids: [Int]
        var greedy_ids: [Int]
        var top_logits: [[Double]]
        /// All last-position logits as little-endian f16, SmolLM2 only.
        var logits_f16: String?
    }

    var cases: [Case]
}

let greedyFixture = try! loadFixture("llamacpp-greedy", as: GreedyFixture.self, in: .module)

@Suite(.serialized) struct GenerationFixtureTests {
    @Test(arguments: ["smollm2-135m", "gemma3-270m"])
    func promptsTokenizeLikeLlamaCpp(model name: String) async throws {
        let path = name == "smollm2-135m" ? try await TestModels.smollm2() : try await TestModels.gemma3()
        let model = try ModelFile(path: path)
        let cases = greedyFixture.cases.filter { $0.model == name }
        #expect(cases.count == 5)
        for c in cases {
            // Chat prompts carry their BOS in the rendered text; plain prompts get it as the metadata asks.
            let addBOS = c.kind.hasPrefix("plain") && model.tokenizer.specialIDs.addBOS
            #expect(model.tokenizer.encode(c.prompt, addBOS: addBOS) == c.prompt_ids, "\(name) \(c.kind)")
            #expect(c.greedy_ids.count == 32 && c.top_logits.count == 40)
        }
    }
}
