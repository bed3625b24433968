"""Small ONNX models for the tests and the fuzz target's seed corpus (Tests/BertCheckTests/Fixtures/onnx/):
each exercises one naming rule of bertcheck's ONNX reader (MatMul + Add bias, quantized
MatMulInteger with scale/zero point, DequantizeLinear per channel, fused Attention, SkipLayerNorm,
EmbedLayerNormalization, typed data fields, external data). Run with the reference venv:
    "$(Scripts/reference-venv.sh --converters)" Scripts/make_onnx_fuzz_seeds.py
"""
import os
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "BertCheckTests", "Fixtures", "onnx")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)


def save(name, nodes, inits, external=False):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    model = helper.make_model(graph, producer_name="pytorch", opset_imports=[helper.make_opsetid("", 17)])
    path = os.path.join(out, name)
    if external:
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=name + ".data", size_threshold=0)
    else:
        onnx.save_model(model, path)


def f32(name, *shape):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


# TorchScript-style Linear: MatMul with an [in, out] weight, bias added at input 0.
linear = [helper.make_node("MatMul", ["h", "onnx::MatMul_1"], ["m"], name="/encoder/layer.0/output/dense/MatMul"),
          helper.make_node("Add", ["encoder.layer.0.output.dense.bias", "m"], ["y"], name="/encoder/layer.0/output/dense/Add")]
save("linear.onnx", linear, [f32("onnx::MatMul_1", 4, 4), f32("encoder.layer.0.output.dense.bias", 4)])
save("external.onnx", linear, [f32("onnx::MatMul_1", 4, 4), f32("encoder.layer.0.output.dense.bias", 4)], external=True)

# Typed fields instead of raw_data.
typed = [helper.make_tensor("encoder.layer.0.output.dense.bias", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0]),
         helper.make_tensor("pooler.dense.bias", TensorProto.FLOAT16, [2], np.array([1, 2], np.float16).view(np.uint16).tolist()),
         helper.make_tensor("shape", TensorProto.INT64, [2], [1, 4])]
save("typed.onnx", [helper.make_node("Add", ["h", "encoder.layer.0.output.dense.bias"], ["y"], name="/a/Add")], typed)

# Dynamic quantization: MatMulInteger, Cast, Mul by the scale, Add the bias.
q = numpy_helper.from_array(rng.integers(-127, 127, (4, 4)).astype(np.int8), "onnx::MatMul_2_quantized")
quant = [helper.make_node("DynamicQuantizeLinear", ["h"], ["hq", "hs", "hz"]),
         helper.make_node("MatMulInteger", ["hq", "onnx::MatMul_2_quantized", "hz", "onnx::MatMul_2_zero_point"], ["mi"], name="/x/MatMul_quant"),
         helper.make_node("Cast", ["mi"], ["mc"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["hs", "onnx::MatMul_2_scale"], ["s"]),
         helper.make_node("Mul", ["mc", "s"], ["mm"]),
         helper.make_node("Add", ["mm", "encoder.layer.0.intermediate.dense.bias"], ["y"])]
save("quantized.onnx", quant, [q, numpy_helper.from_array(np.array(0, np.int8), "onnx::MatMul_2_zero_point"),
                               numpy_helper.from_array(np.array(0.01, np.float32), "onnx::MatMul_2_scale"),
                               f32("encoder.layer.0.intermediate.dense.bias", 4)])

# Per-channel DequantizeLinear feeding a Gather (embeddings).
emb = numpy_helper.from_array(rng.integers(0, 255, (6, 4)).astype(np.uint8), "embeddings.word_embeddings.weight_quantized")
deq = [helper.make_node("DequantizeLinear", ["embeddings.word_embeddings.weight_quantized", "sc", "zp"], ["e"], axis=1),
       helper.make_node("Gather", ["e", "ids"], ["y"], name="/embeddings/word_embeddings/Gather")]
save("dequantize.onnx", deq, [emb, numpy_helper.from_array(np.full(4, 0.02, np.float32), "sc"),
                              numpy_helper.from_array(np.full(4, 128, np.uint8), "zp"),
                              numpy_helper.from_array(np.array([1, 2], np.int64), "ids")])

# onnxruntime's fused ops.
fused = [helper.make_node("EmbedLayerNormalization", ["ids", "seg", "w", "p", "t", "g", "b"], ["e", "mask"], domain="com.microsoft"),
         helper.make_node("Attention", ["e", "Attention_0_qkv_weight", "Attention_0_qkv_bias", "mask"], ["a"], domain="com.microsoft", num_heads=2),
         helper.make_node("MatMul", ["a", "onnx::MatMul_3"], ["m"], name="/encoder/layer.0/attention/output/dense/MatMul"),
         helper.make_node("SkipLayerNormalization", ["m", "e", "g0", "b0", "encoder.layer.0.attention.output.dense.bias"], ["s"], domain="com.microsoft"),
         helper.make_node("MatMul", ["s", "onnx::MatMul_4"], ["i"], name="/encoder/layer.0/intermediate/dense/MatMul"),
         helper.make_node("BiasGelu", ["i", "bg"], ["y"], domain="com.microsoft")]
save("fused.onnx", fused, [f32("w", 6, 4), f32("p", 8, 4), f32("t", 2, 4), f32("g", 4), f32("b", 4),
                           f32("Attention_0_qkv_weight", 4, 12), f32("Attention_0_qkv_bias", 12), f32("onnx::MatMul_3", 4, 4),
                           f32("g0", 4), f32("b0", 4), f32("encoder.layer.0.attention.output.dense.bias", 4),
                           f32("onnx::MatMul_4", 4, 6), f32("bg", 6)])
print("\n".join(sorted(os.listdir(out))))
