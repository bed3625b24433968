#!/usr/bin/env python3
"""Makes the ONNX test material of issue 16 with the real exporters, from
goldens/checkpoints/tiny-bert-distinct (BertModel, hidden 32, 3 layers, every parameter distinct, made
by Scripts/make_converter_checkpoints.py), into goldens/onnx/ (re-runnable):

  tiny-bert-torchscript.onnx   torch.onnx.export(dynamo=False): HF names for most initializers,
                               MatMul weights as onnx::MatMul_N stored transposed ([in, out])
  tiny-bert-dynamo.onnx        torch.onnx.export(dynamo=True): renamed initializers, module paths in
                               node metadata (pkg.torch.onnx.name_scopes)
  tiny-bert-optimized.onnx     onnxruntime.transformers.optimizer.optimize_model(model_type="bert")
                               of the TorchScript export (fused Attention with packed QKV, ...)
  tiny-bert-int8.onnx          onnxruntime.quantization.quantize_dynamic, int8, per tensor
  tiny-bert-int8-per-channel.onnx   the same, per_channel=True
  tiny-bert-fp16.onnx          onnxruntime.transformers.float16.convert_float_to_float16 of the
                               TorchScript export (keep_io_types=True)
  tiny-bert-external.onnx + tiny-bert-external.onnx.data
                               the TorchScript export saved with save_as_external_data=True
                               (tensors of 1 KiB and more in the .data file, smaller ones inline)
  tiny-bert-scaled.onnx        the TorchScript export with encoder.layer.1.output.dense.weight
                               (an onnx::MatMul_N initializer) multiplied by 1.02: diff must fail
  NAME.json                    per file: producer, opset, metadata_props, every initializer with
                               dtype, shape, external data and the nodes consuming it, and the
                               node metadata keys seen (name_scopes, ...)

With --minilm MODEL_DIR it makes the same forms of that model into ~/.cache/bertcheck/onnx/ instead
(not committed). Usage: $(Scripts/reference-venv.sh --converters) Scripts/make_onnx_fixtures.py [--minilm DIR]
"""
import json
import os
import sys
import warnings

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from transformers import BertModel

HERE = os.path.dirname(os.path.abspath(__file__))
SCALED_LAYER = 1
SCALE = 1.02


class ExportedBert(BertModel):
    """BertModel with the three inputs as the only (positional) arguments and a tuple out: the
    TorchScript exporter fills every forward parameter positionally, which collides with the keyword
    arguments transformers 5's wrappers add ("got multiple values for argument 'use_cache'").
    Same module, so the same parameter names."""

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = super().forward(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.last_hidden_state, out.pooler_output


def example_inputs(config):
    torch.manual_seed(0)
    ids = torch.randint(5, config.vocab_size, (2, 8))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    types = torch.zeros_like(ids)
    types[:, 4:] = 1
    return ids, mask, types


def export_torchscript(model, inputs, path):
    torch.onnx.export(
        model, inputs, path, dynamo=False, opset_version=17,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state", "pooler_output"],
        dynamic_axes={n: {0: "batch", 1: "sequence"} for n in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")}
        | {"pooler_output": {0: "batch"}},
    )


def export_dynamo(model, inputs, path):
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    program = torch.onnx.export(
        model, inputs, dynamo=True, input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state", "pooler_output"],
        dynamic_shapes=tuple({0: batch, 1: sequence} for _ in range(3)),
    )
    program.save(path, external_data=False)


def consumers_of(graph):
    used = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            used.setdefault(name, []).append({"op": node.op_type, "node": node.name, "input": index, "domain": node.domain})
    return used


def describe(path):
    model = onnx.load(path, load_external_data=False)
    graph = model.graph
    used = consumers_of(graph)
    initializers = []
    for tensor in graph.initializer:
        entry = {
            "name": tensor.name,
            "dtype": onnx.TensorProto.DataType.Name(tensor.data_type),
            "shape": list(tensor.dims),
            "consumers": used.get(tensor.name, []),
        }
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entry["external_data"] = {kv.key: kv.value for kv in tensor.external_data}
        elif tensor.raw_data:
            entry["storage"] = "raw_data"
        else:
            entry["storage"] = "typed fields"
        initializers.append(entry)
    metadata_keys = {}
    scopes = []
    for node in graph.node:
        for kv in node.metadata_props:
            metadata_keys[kv.key] = metadata_keys.get(kv.key, 0) + 1
            if kv.key == "pkg.torch.onnx.name_scopes" and len(scopes) < 12:
                scopes.append({"node": node.name, "op": node.op_type, "inputs": list(node.input), "value": kv.value})
    ops = {}
    for node in graph.node:
        key = f"{node.domain}:{node.op_type}" if node.domain else node.op_type
        ops[key] = ops.get(key, 0) + 1
    listing = {
        "file": os.path.basename(path),
        "file_bytes": os.path.getsize(path),
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}",
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "model_metadata_props": {kv.key: kv.value for kv in model.metadata_props},
        "graph_inputs": [i.name for i in graph.input],
        "graph_outputs": [o.name for o in graph.output],
        "node_ops": dict(sorted(ops.items())),
        "node_metadata_keys": metadata_keys,
        "name_scopes_examples": scopes,
        "initializers": initializers,
    }
    with open(path[: -len(".onnx")] + ".json", "w") as f:
        json.dump(listing, f, indent=1)
        f.write("\n")
    dtypes = sorted({i["dtype"] for i in initializers})
    print(f"{path}: {len(initializers)} initializers {dtypes}, {len(graph.node)} nodes, {os.path.getsize(path)} bytes")


def output_dense_weight(model, layer):
    """The MatMul weight whose product the layer's output.dense bias is added to (TorchScript form)."""
    graph = model.graph
    bias = f"encoder.layer.{layer}.output.dense.bias"
    add = next(n for n in graph.node if n.op_type == "Add" and bias in n.input)
    other = [i for i in add.input if i != bias][0]
    matmul = next(n for n in graph.node if n.op_type == "MatMul" and other in n.output)
    names = {t.name for t in graph.initializer}
    return next(i for i in matmul.input if i in names)


def check_runs(path, reference, inputs, tolerance):
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)}
    got = session.run(None, feeds)[0].astype(np.float32)
    error = float(np.max(np.abs(got - reference)))
    print(f"  onnxruntime last_hidden_state max abs vs torch: {error:.3g}")
    if error > tolerance:
        sys.exit(f"{path}: onnxruntime output differs from torch by {error} (> {tolerance})")
    return error


def main():
    if "--minilm" in sys.argv:
        source = sys.argv[sys.argv.index("--minilm") + 1]
        out = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "bertcheck", "onnx")
        stem = "all-MiniLM-L6-v2"
    else:
        source = os.path.join(HERE, "..", "goldens", "checkpoints", "tiny-bert-distinct")
        out = os.path.join(HERE, "..", "goldens", "onnx")
        stem = "tiny-bert"
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):  # this script's files only: README.md stays
        if name.startswith(stem + "-"):
            os.remove(os.path.join(out, name))
    model = ExportedBert.from_pretrained(source, attn_implementation="eager").eval()
    config = model.config
    inputs = example_inputs(config)
    with torch.no_grad():
        reference = model(*inputs)[0].numpy()
    p = lambda form: os.path.join(out, f"{stem}-{form}.onnx")
    errors = {}

    export_torchscript(model, inputs, p("torchscript"))
    errors["torchscript"] = check_runs(p("torchscript"), reference, inputs, 1e-4)
    export_dynamo(model, inputs, p("dynamo"))
    errors["dynamo"] = check_runs(p("dynamo"), reference, inputs, 1e-4)

    from onnxruntime.transformers.optimizer import optimize_model
    optimized = optimize_model(p("torchscript"), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size, opt_level=None)
    print("  optimizer fused:", optimized.get_fused_operator_statistics())
    optimized.save_model_to_file(p("optimized"))
    errors["optimized"] = check_runs(p("optimized"), reference, inputs, 1e-4)

    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(p("torchscript"), p("int8"), weight_type=QuantType.QInt8)
    errors["int8"] = check_runs(p("int8"), reference, inputs, 1.0)
    quantize_dynamic(p("torchscript"), p("int8-per-channel"), weight_type=QuantType.QInt8, per_channel=True)
    errors["int8-per-channel"] = check_runs(p("int8-per-channel"), reference, inputs, 1.0)

    from onnxruntime.transformers.float16 import convert_float_to_float16
    fp16 = convert_float_to_float16(onnx.load(p("torchscript")), keep_io_types=True)
    onnx.save_model(fp16, p("fp16"))
    errors["fp16"] = check_runs(p("fp16"), reference, inputs, 0.05)

    external = onnx.load(p("torchscript"))
    onnx.save_model(external, p("external"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=f"{stem}-external.onnx.data", size_threshold=1024)
    errors["external"] = check_runs(p("external"), reference, inputs, 1e-4)

    scaled = onnx.load(p("torchscript"))
    name = output_dense_weight(scaled, SCALED_LAYER)
    for tensor in scaled.graph.initializer:
        if tensor.name == name:
            tensor.CopyFrom(numpy_helper.from_array((numpy_helper.to_array(tensor) * np.float32(SCALE)).astype(np.float32), name))
    onnx.save_model(scaled, p("scaled"))
    print(f"  scaled {name} (encoder.layer.{SCALED_LAYER}.output.dense.weight, transposed) by {SCALE}")

    for form in ("torchscript", "dynamo", "optimized", "int8", "int8-per-channel", "fp16", "external", "scaled"):
        describe(p(form))
    with open(os.path.join(out, f"{stem}-exports.json"), "w") as f:
        json.dump({"source": os.path.relpath(source, os.path.join(HERE, "..")) if "--minilm" not in sys.argv else source,
                   "example_inputs": {"input_ids": inputs[0].tolist(), "attention_mask": inputs[1].tolist(), "token_type_ids": inputs[2].tolist()},
                   "onnxruntime_last_hidden_state_max_abs_vs_torch": errors,
                   "scaled": {"initializer": name, "hf_name": f"encoder.layer.{SCALED_LAYER}.output.dense.weight", "factor": SCALE},
                   "versions": {"torch": torch.__version__, "onnx": onnx.__version__,
                                "onnxruntime": __import__("onnxruntime").__version__,
                                "onnxscript": __import__("onnxscript").__version__,
                                "transformers": __import__("transformers").__version__}}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    main()
