#!/usr/bin/env python3
"""ONNX exports of goldens/checkpoints/tiny-bert, whose biases are all zero and LayerNorm weights all
one: both exporters merge equal initializers, so one initializer stands for many parameters
(TorchScript hands the copies on through Identity nodes named after each parameter; dynamo feeds
the one initializer to every node, and drops the pooler's zero Gemm bias). Writes
goldens/onnx/tiny-bert-merged-{torchscript,dynamo}.onnx with the exporters of make_onnx_fixtures.py.
Usage: $(Scripts/reference-venv.sh --converters) Scripts/make_onnx_merged_fixtures.py
"""
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
warnings.filterwarnings("ignore")
import make_onnx_fixtures as fixtures  # noqa: E402

root = os.path.dirname(HERE)
model = fixtures.ExportedBert.from_pretrained(os.path.join(root, "goldens/checkpoints/tiny-bert")).eval()
inputs = fixtures.example_inputs(model.config)
out = os.path.join(root, "goldens/onnx")
fixtures.export_torchscript(model, inputs, os.path.join(out, "tiny-bert-merged-torchscript.onnx"))
fixtures.export_dynamo(model, inputs, os.path.join(out, "tiny-bert-merged-dynamo.onnx"))
