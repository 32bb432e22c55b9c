import CPUBackend
import Engine
import GGUF
import Grammar
import Models
import ReferenceBackend
import SwerveCore
import TestSupport
import Testing

/// The backend's half of the logits pipeline (`Backend.sample`, `EngineConfiguration.sampleOnBackend`):
/// rows whose whole pipeline the backend can run have their tokens chosen where the logits are, and every
/// token, log-probability and finish is the host pipeline's, for greedy, seeded sampling with each
/// truncation, log-probabilities, grammar masks and drafts, whatever else shares the batch.
@Suite struct BackendSamplingTests {
    enum BackendKind: String, CaseIterable, CustomTestStringConvertible {
        case cpu, reference
        var testDescription: String { rawValue }
        func make() -> any Backend { self == .cpu ? CPUBackend(threads: 2) : ReferenceBackend() }
    }

    static func engine(_ kind: BackendKind, onBackend: Bool, speculative: SpeculativeConfig?) throws -> EngineCore {
        let gguf = try SyntheticModel.llama()
        let config = try ModelRegistry.config(of: gguf)
        return try EngineCore(
            gguf: gguf,
            tokenizer: ByteTokenizer(vocabularySize: config.vocabularySize),
            backend: kind.make(),
            configuration: EngineConfiguration(
                maxModelLen: 256,
                maxNumSeqs: 32,
                maxNumBatchedTokens: 512,
                kvCacheMemory: 512 * 16 * config.blockCount * config.headCountKV * config.headDimension * 4,
                maxJumpForwardBatch: .max,
                sampleOnBackend: onBackend,
                speculative: speculative
            )
        )
    }

    /// Requests of every kind the pipeline knows, in one batch: each row's pipeline decides where it runs
    /// (penalties, bias and `min_tokens` bans keep theirs on the host until the bans lift).
    static func requests(_ engine: EngineCore) throws -> [EngineRequest] {
        let schema =
            #"{"type":"object","properties":{"name":{"type":"string","enum":["ok","abc","Zed"]},"n":{"type":"integer"}},"required":["name","n"]}"#
        let json = try engine.constraints.constraint(.jsonSchema(schema))
        var kinds: [SamplingParameters] = [
            SamplingParameters(maxTokens: 12),
            SamplingParameters(temperature: 0.8, seed: 1, maxTokens: 12),
            SamplingParameters(temperature: 1, topP: 0.9, topK: 7, minP: 0.05, seed: 2, maxTokens: 12),
            SamplingParameters(temperature: 1.2, topP: 0.8, seed: 3, maxTokens: 12, logprobs: 3),
            SamplingParameters(maxTokens: 12, logprobs: 2),
            SamplingParameters(temperature: 1, seed: 4, presencePenalty: 0.5, maxTokens: 12),
            SamplingParameters(temperature: 1, seed: 5, maxTokens: 12, minTokens: 5),
        ]
        var greedyJSON = SamplingParameters(maxTokens: 40)
        greedyJSON.constraint = json
        var sampledJSON = SamplingParameters(temperature: 1, seed: 6, maxTokens: 40, logprobs: 1)
        sampledJSON.constraint = json
        kinds += [greedyJSON, sampledJSON]
        return kinds.enumerated().map { i, parameters in
            // Prompts that repeat themselves, so the n-gram proposer has drafts to verify.
            let prompt = (0..<(12 + i)).map { Int32(1 + ($0 % 5) * 11 + i) }
            return EngineRequest(id: "r\(i)", prompt: prompt, parameters: parameters)
        }
    }

    static func run(_ engine: EngineCore) throws -> [String: [RequestOutput]] {
        for request in try requests(engine) { try engine.add(request) }
        var outputs: [String: [RequestOutput]] = [:]
        var steps = 0
        while engine.hasWork && steps < 2000 {
            steps += 1
            for output in engine.step() {
                var output = output
                output.time = 0
                output.interTokenLatency = nil
                output.timings = nil
                outputs[output.requestID, default: []].append(output)
            }
        }
        return outputs
    }

    @Test(arguments: BackendKind.allCases, [false, true])
    func theBackendChoosesWhatTheHostPipelineChooses(backend: BackendKind, speculative: Bool) throws {
        let ngram =
            speculative ? try SpeculativeConfig(numSpeculativeTokens: 4, promptLookupMax: 3, promptLookupMin: 1) : nil
        let host = try Self.engine(backend, onBackend: false, speculative: ngram)
        let device = try Self.engine(backend, onBackend: true, speculative: ngram)
        let expected = try Self.run(host)
        let chosen = try Self.run(device)
        #expect(expected.count == 9)
        for (id, outputs) in expected {
            let tokens = outputs.flatMap(\.tokenIDs)
            #expect(tokens == chosen[id]?.flatMap(\.tokenIDs), "\(id)")
            #expect(outputs.flatMap(\.logprobs) == chosen[id]?.flatMap(\.logprobs), "\(id)")
            #expect(outputs.last?.finishReason == chosen[id]?.last?.finishReason, "\(id)")
        }
        #expect(host.stats.backendSampledRows == 0 && host.stats.hostSampledRows > 0)
        // Only the penalised request and the first five rows of the min_tokens one stay on the host.
        #expect(device.stats.backendSampledRows > 8 * device.stats.hostSampledRows / 2)
        #expect(device.stats.hostSampledRows >= 12 + 5)
        if speculative { #expect(device.stats.acceptedDraftTokens > 0) }
    }

    /// The CPU backend chooses in place on its logits rows what the host default (each row read, then
    /// `RowSampling.choose`) chooses, for random rows, masks, draws and log-probabilities.
    @Test func theCPUBackendAndTheHostDefaultAgreeRowByRow() throws {
        let vocabulary = 300
        let rows = 24
        let cpu = CPUBackend(threads: 2)
        let reference = ReferenceBackend()
        var random = SeededRandom(seed: 11)
        let values = (0..<(rows * vocabulary)).map { _ in Float.random(in: -6...6, using: &random) }
        let words = (vocabulary + 63) / 64
        var masks = [UInt64](repeating: 0, count: rows * words)
        var requests: [RowSampling] = []
        for row in 0..<rows {
            var request = RowSampling(
                row: row,
                temperature: [0, 0.7, 1, 1.5][row % 4],
                topK: [0, 5, 40, 1][row / 4 % 4],
                topP: row % 3 == 0 ? 0.85 : 1,
                minP: row % 5 == 0 ? 0.1 : 0,
                uniform: Float.random(in: 0..<1, using: &random),
                fallback: 7,
                logprobs: row % 2 == 0 ? 4 : -1
            )
            if row % 3 != 2 {
                request.mask = row * words
                for w in 0..<words {
                    masks[row * words + w] = row == 4 ? 0 : UInt64.random(in: 0...UInt64.max, using: &random)
                }
            }
            requests.append(request)
        }
        // The rows reach each backend as an f32 table embedded row by row.
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: values.count * 4, alignment: 64)
        defer { bytes.deallocate() }
        values.withUnsafeBytes { bytes.copyMemory(from: $0) }
        let view = TensorView(
            name: "token_embd.weight",
            type: .f32,
            shape: [vocabulary, rows],
            data: UnsafeRawBufferPointer(bytes),
            owner: nil
        )
        func choose(_ backend: any Backend) throws -> ([SampledToken], [SampledToken]) {
            let tensor = backend.makeActivations(rows: rows, columns: vocabulary)
            let table = try backend.load(view)
            let ids = (0..<Int32(rows)).map { $0 }
            ids.withUnsafeBufferPointer { backend.embed($0, table: table, scale: 1, into: tensor) }
            var chosen = [SampledToken](repeating: SampledToken(token: -1, logprob: 0), count: rows)
            var top = [SampledToken](repeating: SampledToken(token: -1, logprob: 0), count: rows * 4)
            requests.withUnsafeBufferPointer { r in
                masks.withUnsafeBufferPointer { m in
                    chosen.withUnsafeMutableBufferPointer { c in
                        top.withUnsafeMutableBufferPointer {
                            backend.sample(tensor, r, masks: m, into: c, top: $0, topStride: 4)
                        }
                    }
                }
            }
            return (chosen, top)
        }
        let (cpuChosen, cpuTop) = try choose(cpu)
        let (hostChosen, hostTop) = try choose(reference)
        #expect(cpuChosen == hostChosen)
        #expect(cpuTop == hostTop)
        // Row 4's mask allows nothing: the fallback, with its raw log-probability.
        #expect(cpuChosen[4].token == 7)
        let row4 = Array(values[(4 * vocabulary)..<(5 * vocabulary)])
        let logTotal = row4.withUnsafeBufferPointer { RowSampling.logSumExp($0) }
        #expect(cpuChosen[4].logprob == row4[7] - logTotal)
        for (i, request) in requests.enumerated() where request.mask >= 0 && i != 4 {
            let token = Int(cpuChosen[i].token)
            #expect(masks[request.mask + token / 64] & (1 << UInt64(token % 64)) != 0)
        }
    }
}
