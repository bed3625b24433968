#!/usr/bin/env python3
"""ONNX Runtime side of Scripts/bench.sh: times an exported BertModel graph on the same padded
batch as `bertcheck bench` (bench_torch.bench_batch) and prints the same JSON keys.

  bench_ort.py --export MODEL_DIR OUT_DIR   # OUT_DIR/plain.onnx (torch.onnx.export) and
                                           # OUT_DIR/optimized.onnx (onnxruntime.transformers.optimizer)
  bench_ort.py GRAPH.onnx --lengths 126,5,5 --threads 2 --iterations 5
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import bench_batch, report  # noqa: E402


def export(model_dir, out_dir):
    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import BertModel
    from onnxruntime.transformers import optimizer

    class ExportedBert(BertModel):
        """The three inputs as the only positional arguments and a tuple out: the TorchScript
        exporter fills every forward parameter positionally, which collides with the keyword
        arguments of transformers 5's wrappers (as in Scripts/make_onnx_fixtures.py)."""

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = super().forward(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state, out.pooler_output

    model = ExportedBert.from_pretrained(model_dir, attn_implementation="eager").eval()
    os.makedirs(out_dir, exist_ok=True)
    plain = os.path.join(out_dir, "plain.onnx")
    ids, mask, types, _ = bench_batch(model.config.vocab_size, 0, 0, "12,5")
    inputs = tuple(torch.from_numpy(a) for a in (ids, mask, types))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    dynamic = {name: {0: "batch", 1: "seq"} for name in names + ["last_hidden_state"]} | {"pooler_output": {0: "batch"}}
    with torch.inference_mode():
        torch.onnx.export(model, inputs, plain, input_names=names, output_names=["last_hidden_state", "pooler_output"],
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
        reference = model(*inputs)[0].numpy()
    config = model.config
    optimized = optimizer.optimize_model(plain, model_type="bert", num_heads=config.num_attention_heads,
                                         hidden_size=config.hidden_size, opt_level=None, use_gpu=False)
    print("optimizer fused:", optimized.get_fused_operator_statistics(), file=sys.stderr)
    optimized.save_model_to_file(os.path.join(out_dir, "optimized.onnx"))
    # Both graphs must compute what torch computes, on the real tokens of a padded batch.
    for graph in ("plain.onnx", "optimized.onnx"):
        session = ort.InferenceSession(os.path.join(out_dir, graph), providers=["CPUExecutionProvider"])
        got = session.run(["last_hidden_state"], dict(zip(names, (ids, mask, types))))[0]
        error = float(np.abs(got - reference)[mask == 1].max())
        print(f"{graph}: max abs error against torch on real tokens {error:.2e}", file=sys.stderr)
        if error > 1e-4:
            sys.exit(f"{graph} does not compute what torch computes")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("graph", nargs="?")
    parser.add_argument("--export", nargs=2, metavar=("MODEL_DIR", "OUT_DIR"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--lengths")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--vocab", type=int, default=30522)
    args = parser.parse_args()
    if args.export:
        export(*args.export)
        return
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(args.graph, options, providers=["CPUExecutionProvider"])
    ids, mask, types, real_tokens = bench_batch(args.vocab, args.batch, args.seq, args.lengths)
    wanted = {i.name for i in session.get_inputs()}
    feed = {k: v for k, v in (("input_ids", ids), ("attention_mask", mask), ("token_type_ids", types)) if k in wanted}
    session.run(None, feed)
    start = time.perf_counter()
    for _ in range(args.iterations):
        session.run(None, feed)
    elapsed = time.perf_counter() - start
    report(real_tokens, elapsed * 1000 / args.iterations, ids, args.threads, args.iterations,
           graph=os.path.basename(args.graph), onnxruntime=ort.__version__)


if __name__ == "__main__":
    sys.exit(main())
