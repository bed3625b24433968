import Testing
@testable import BertCheck

/// The parameter-spec table: names, shapes and order as transformers' BertModel has them.
@Suite struct ParameterSpecTests {
    @Test func bertBaseHasTransformersNamesShapesAndOrder() {
        let expected = expectedParameters(for: BertConfig())
        // bert-base-uncased: 199 parameters, 109,482,240 values (the notebook's count).
        #expect(expected.count == 5 + 12 * 16 + 2)
        #expect(expected.reduce(0) { $0 + $1.shape.reduce(1, *) } == 109_482_240)
        #expect(expected.prefix(6).map(\.name) == [
            "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
            "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
            "encoder.layer.0.attention.self.query.weight",
        ])
        #expect(expected.first { $0.name == "encoder.layer.11.intermediate.dense.weight" }?.shape == [3072, 768])
        #expect(expected.first { $0.name == "encoder.layer.11.output.dense.weight" }?.shape == [768, 3072])
        #expect(expected.suffix(2).map(\.name) == ["pooler.dense.weight", "pooler.dense.bias"])
        #expect(!expectedParameters(for: BertConfig(), pooler: false).contains { $0.name.hasPrefix("pooler.") })
    }

    @Test func relativePositionsAddADistanceEmbeddingPerLayer() {
        var config = BertConfig()
        config.positionEmbeddingType = "relative_key"
        let names = expectedParameters(for: config).map(\.name)
        #expect(names.filter { $0.hasSuffix("distance_embedding.weight") }.count == 12)
        #expect(expectedParameters(for: config).first { $0.name == "encoder.layer.0.attention.self.distance_embedding.weight" }?.shape
            == [1023, 64])
    }

    @Test func everyExpectedNameParsesBackToItsModule() {
        var config = BertConfig()
        config.positionEmbeddingType = "relative_key_query"
        for parameter in expectedParameters(for: config) {
            let parsed = ParameterName(parsing: parameter.name)
            #expect(parsed?.description == parameter.name)
            #expect(parsed.map { $0.module.shape(of: $0.leaf, config: config) } == parameter.shape)
        }
        #expect(ParameterName(parsing: "encoder.layer.07.output.dense.bias") == nil)
        #expect(ParameterName(parsing: "encoder.layer.x.output.dense.bias") == nil)
        #expect(ParameterName(parsing: "embeddings.word_embeddings.bias") == nil)
        #expect(ParameterName(parsing: "classifier.weight") == nil)
        #expect(ParameterName(parsing: "encoder.layer.3.output.dense.bias") == ParameterName(.outputDense, layer: 3, leaf: "bias"))
    }

    @Test func legacyNamesAndBuffersMapThroughTheTable() {
        #expect(parameterRole(ofStoredName: "bert.encoder.layer.0.output.LayerNorm.gamma") == .parameter("encoder.layer.0.output.LayerNorm.weight"))
        #expect(parameterRole(ofStoredName: "bert.embeddings.LayerNorm.beta") == .parameter("embeddings.LayerNorm.bias"))
        #expect(parameterRole(ofStoredName: "bert.embeddings.position_ids") == .buffer("embeddings.position_ids"))
        #expect(parameterRole(ofStoredName: "embeddings.token_type_ids") == .buffer("embeddings.token_type_ids"))
        #expect(parameterRole(ofStoredName: "cls.predictions.bias") == .ignored("cls.predictions.bias"))
        #expect(parameterRole(ofStoredName: "classifier.weight") == .ignored("classifier.weight"))
        // Under a BertModel path but unknown: a parameter the schema check calls unexpected.
        #expect(parameterRole(ofStoredName: "encoder.layer.0.adapter.weight") == .parameter("encoder.layer.0.adapter.weight"))
    }

    @Test func groupsAndOrderFollowTheTable() {
        #expect(ParameterGroup(canonicalName: "encoder.layer.4.attention.output.dense.weight") == .layer(4))
        #expect(ParameterGroup(canonicalName: "encoder.layer.4.adapter.weight") == .layer(4))
        #expect(ParameterGroup(canonicalName: "pooler.dense.bias") == .pooler)
        #expect(ParameterGroup(canonicalName: "embeddings.extra") == .embeddings)
        #expect(ParameterGroup(canonicalName: "encoder.rel_embeddings.weight") == .other)
        #expect(ParameterGroup.layer(4).description == "encoder.layer.4")
        let shuffled = expectedParameters(for: BertConfig()).map(\.name).reversed()
        let sorted = shuffled.sorted { canonicalOrderKey($0) < canonicalOrderKey($1) }
        #expect(sorted == expectedParameters(for: BertConfig()).map(\.name))
    }
}
