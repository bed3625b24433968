#!/usr/bin/env python3
"""Exports a BERT checkpoint to ONNX with outputs under golden names, so
`Scripts/dump_outputs.py` + `bertcheck verify --outputs` gate it without renaming anything.

    $(Scripts/reference-venv.sh --runtimes) Scripts/export_onnx.py MODEL_DIR OUT.onnx [--hidden-states]
        [--fp16] [--quantize per-tensor|per-channel] [--scale NAME=FACTOR]

Inputs `input_ids`, `attention_mask`, `token_type_ids` (int64, dynamic batch and sequence); outputs
`last_hidden_state`, `pooler_output` (when the checkpoint has a pooler) and, with --hidden-states,
`hidden_states.0` (the embeddings) … `hidden_states.L`, so a failing gate names the diverging layer.
torch.onnx.export (TorchScript exporter, opset 17), eager attention as the goldens are recorded.

The conversions the gates in Docs/ci-gating.md check, applied to the export:
  --fp16             onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True)
  --quantize MODE    onnxruntime.quantization.quantize_dynamic, QInt8 weights, per tensor (its
                     defaults) or per channel
  --scale NAME=F     multiplies checkpoint weight NAME (e.g. encoder.layer.1.output.dense.weight)
                     by F in the ONNX file, editing its initializer with onnx: a broken conversion
                     for the gate to catch. A Linear weight the exporter renamed (onnx::MatMul_N,
                     stored transposed) is found through the Add of its bias.
"""
import argparse
import os
import tempfile
import warnings

import numpy as np
import onnx
import torch
import transformers
from onnx import numpy_helper


class GoldenNamedBert(torch.nn.Module):
    """The checkpoint's encoder with the three inputs positional (the TorchScript exporter fills
    every forward parameter positionally) and a flat tuple of outputs in golden order."""

    def __init__(self, encoder, hidden_states):
        super().__init__()
        self.bert = encoder
        self.hidden_states = hidden_states

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                        output_hidden_states=self.hidden_states)
        results = [out.last_hidden_state]
        if out.pooler_output is not None:
            results.append(out.pooler_output)
        if self.hidden_states:
            # The last hidden state is last_hidden_state itself: an ONNX graph cannot name one value
            # twice, so that output is a copy.
            last = len(out.hidden_states) - 1
            results += [h.clone() if i == last else h for i, h in enumerate(out.hidden_states)]
        return tuple(results)


def drop_wrapper_prefix(path):
    """Values named `bert.X` (the wrapper's parameters, and the Identity nodes the exporter makes for
    parameters holding equal values) become the checkpoint's BertModel names `X`."""
    model = onnx.load(path)
    plain = lambda name: name.removeprefix("bert.")
    for tensor in model.graph.initializer:
        tensor.name = plain(tensor.name)
    for node in model.graph.node:
        for values in (node.input, node.output):
            for i, name in enumerate(values):
                values[i] = plain(name)
    onnx.save_model(model, path)


def load_encoder(model_dir):
    config = transformers.AutoConfig.from_pretrained(model_dir)
    architecture = (config.architectures or ["BertModel"])[0]
    model = getattr(transformers, architecture).from_pretrained(model_dir, attn_implementation="eager").eval().float()
    return model if architecture == "BertModel" else model.bert


def export(model_dir, path, hidden_states):
    encoder = load_encoder(model_dir)
    wrapper = GoldenNamedBert(encoder, hidden_states).eval()
    ids = torch.tensor([[2, 5, 6, 7, 3], [2, 8, 3, 0, 0]], dtype=torch.int64) % encoder.config.vocab_size
    inputs = (ids, (ids != 0).long(), torch.zeros_like(ids))
    with torch.no_grad():
        count = len(wrapper(*inputs))
    names = ["last_hidden_state"] + (["pooler_output"] if encoder.pooler is not None else [])
    if hidden_states:
        names += [f"hidden_states.{n}" for n in range(encoder.config.num_hidden_layers + 1)]
    assert len(names) == count, (names, count)
    input_names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch"} if name == "pooler_output" else {0: "batch", 1: "sequence"} for name in input_names + names}
    torch.onnx.export(wrapper, inputs, path, dynamo=False, opset_version=17,
                      input_names=input_names, output_names=names, dynamic_axes=axes)
    drop_wrapper_prefix(path)
    return names


def weight_initializer(graph, name):
    """The initializer holding checkpoint weight `name`: by name, or the MatMul operand summed with
    the layer's bias (the TorchScript exporter renames a Linear's weight to onnx::MatMul_N)."""
    by_name = {t.name: t for t in graph.initializer}
    name = name.removeprefix("bert.")  # a task head's encoder is exported alone, as a BertModel
    if name in by_name:
        return by_name[name]
    bias = name[: -len("weight")] + "bias"
    add = next((n for n in graph.node if n.op_type == "Add" and bias in n.input), None)
    if add is None:
        raise SystemExit(f"export_onnx.py: no initializer {name} and no Add of {bias} in the graph")
    product = next(i for i in add.input if i != bias)
    matmul = next(n for n in graph.node if n.op_type == "MatMul" and product in n.output)
    weight = next(i for i in matmul.input if i in by_name)
    users = [n.name for n in graph.node if weight in n.input]
    if len(users) != 1:  # the exporter shares one initializer among parameters holding equal values
        raise SystemExit(f"export_onnx.py: {name} is initializer {weight}, shared by {len(users)} nodes: scaling it would change them all")
    return by_name[weight]


def scale(path, name, factor):
    model = onnx.load(path)
    tensor = weight_initializer(model.graph, name)
    scaled = (numpy_helper.to_array(tensor) * np.float32(factor)).astype(np.float32)
    tensor.CopyFrom(numpy_helper.from_array(scaled, tensor.name))
    onnx.save_model(model, path)
    print(f"  {name} (initializer {tensor.name}) x {factor}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--hidden-states", action="store_true", help="also output hidden_states.0 … hidden_states.L")
    parser.add_argument("--fp16", action="store_true", help="convert the weights to fp16 (inputs and outputs stay fp32/int64)")
    parser.add_argument("--quantize", choices=("per-tensor", "per-channel"), help="quantize_dynamic int8 weights")
    parser.add_argument("--scale", metavar="NAME=FACTOR", help="multiply one checkpoint weight by FACTOR")
    args = parser.parse_args()
    if args.fp16 and args.quantize:
        parser.error("--fp16 and --quantize are two different conversions: choose one")

    with tempfile.TemporaryDirectory() as scratch:
        plain = os.path.join(scratch, "export.onnx") if (args.fp16 or args.quantize) else args.out
        names = export(args.model, plain, args.hidden_states)
        if args.scale:
            name, _, factor = args.scale.partition("=")
            scale(plain, name, float(factor))
        if args.fp16:
            from onnxruntime.transformers.float16 import convert_float_to_float16
            onnx.save_model(convert_float_to_float16(onnx.load(plain), keep_io_types=True), args.out)
        elif args.quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic
            quantize_dynamic(plain, args.out, weight_type=QuantType.QInt8, per_channel=args.quantize == "per-channel")
    print(f"{args.out}: outputs {', '.join(names)}")


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    main()
