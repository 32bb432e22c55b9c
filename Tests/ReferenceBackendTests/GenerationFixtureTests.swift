import Models
import TestSupport
import Testing
import Tokenizers

/// The fixture's prompts are exactly the ids llama.cpp evaluated.
@Suite(.serialized, .tags(.realModel), .needsRealModels) struct GenerationFixtureTests {
    @Test(arguments: ["smollm2-135m", "gemma3-270m"])
    func promptsTokenizeLikeLlamaCpp(model name: String) async throws {
        let path = name == "smollm2-135m" ? try await TestModels.smollm2() : try await TestModels.gemma3()
        let model = try ModelFile(path: path)
        let cases = GreedyFixture.cases(model: name)
        #expect(cases.count == 5)
        for c in cases {
            // Chat prompts carry their BOS in the rendered text; plain prompts get it as the metadata asks.
            let addBOS = c.kind.hasPrefix("plain") && model.tokenizer.specialIDs.addBOS
            #expect(model.tokenizer.encode(c.prompt, addBOS: addBOS) == c.prompt_ids, "\(name) \(c.kind)")
            #expect(c.greedy_ids.count == 32 && c.top_logits.count == 40)
        }
    }
}
