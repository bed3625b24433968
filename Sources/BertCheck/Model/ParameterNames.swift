/// How a tensor name stored in a checkpoint maps to transformers' `BertModel` names.
public enum ParameterRole: Equatable, Sendable {
    /// A `BertModel` parameter, under its canonical name (`encoder.layer.0.attention.self.query.weight`).
    case parameter(String)
    /// A registered buffer (`embeddings.position_ids`, `embeddings.token_type_ids`): not a parameter.
    case buffer(String)
    /// A tensor outside `BertModel` (task heads such as `cls.*`, `classifier.*`): listed, not an error.
    case ignored(String)
}

/// Canonical `BertModel` name of a stored tensor name: strips the `bert.` prefix of task
/// checkpoints (BertForPreTraining, BertForSequenceClassification, …) and maps the TF-era
/// `LayerNorm.gamma` / `LayerNorm.beta` to `weight` / `bias`.
public func parameterRole(ofStoredName stored: String) -> ParameterRole {
    var name = stored
    if name.hasPrefix("bert.") { name.removeFirst(5) }
    if name.hasSuffix("LayerNorm.gamma") {
        name = String(name.dropLast("gamma".count)) + "weight"
    } else if name.hasSuffix("LayerNorm.beta") {
        name = String(name.dropLast("beta".count)) + "bias"
    }
    if name == "embeddings.position_ids" || name == "embeddings.token_type_ids" {
        return .buffer(name)
    }
    if name.hasPrefix("embeddings.") || name.hasPrefix("encoder.") || name.hasPrefix("pooler.") {
        return .parameter(name)
    }
    return .ignored(stored)
}
