import Foundation
import Testing
@testable import BertCheck

/// What a format leaves out by design is declared by its reader (`NotCarriedByDesign`); params,
/// diff and verify word it from that declaration, not from the format's name.
@Suite struct NotCarriedByDesignTests {
    static let gguf = TestPaths.goldens.appendingPathComponent("gguf/tiny-h256-F32.gguf").path
    static let source = TestPaths.goldens.appendingPathComponent("checkpoints/tiny-bert-h256").path

    @Test func theGGUFReaderDeclaresThePoolerAndSafetensorsNothing() throws {
        let declared = try #require(try loadCheckpoint(Self.gguf).notCarried)
        #expect(declared == GGUFFormat.notCarried)
        #expect(declared.dropsPooler && declared.covers("pooler.dense.bias") && !declared.covers("embeddings.LayerNorm.weight"))
        #expect(try loadCheckpoint(Self.source).notCarried == nil)
    }

    @Test func paramsAndDiffWordItFromTheDeclaration() throws {
        let params = try CLI.run(["params", Self.gguf])
        #expect(params.status == 0, "\(params.stderr)")
        #expect(params.stdout.contains("\nOutput Layer\n\n(no pooler weights: not carried by GGUF, llama.cpp's converter drops pooler.dense)\n"),
                "\(params.stdout)")
        let diff = try CLI.run(["diff", Self.source, Self.gguf])
        #expect(diff.status == 0, "\(diff.stdout)\(diff.stderr)")
        #expect(diff.stdout.contains("Not carried by GGUF (2, by design, not a failure): pooler.dense.bias, pooler.dense.weight"),
                "\(diff.stdout)")
    }
}
