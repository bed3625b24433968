#!/usr/bin/env python3
"""Runs a golden's inputs through another runtime and writes its outputs under the golden's tensor
names, ready for `bertcheck verify --golden G --outputs FILE` (Docs/ci-gating.md, "Other runtimes").

    $(Scripts/reference-venv.sh --runtimes) Scripts/dump_outputs.py --runtime RUNTIME --model PATH \
        --golden G.golden.safetensors --out OUT.safetensors|OUT.npz [--threads N]

RUNTIME and what --model is:
  onnxruntime   an .onnx file (Scripts/export_onnx.py writes one with golden output names and, with
                --hidden-states, every hidden state); fed the golden's input_ids, attention_mask and
                token_type_ids (those the graph takes), CPU execution provider
  openvino      an .onnx file or OpenVINO IR (.xml); inference precision f32 unless
                --openvino-precision says otherwise (OpenVINO picks bf16 on CPUs that have it)
  ctranslate2   a directory made by ct2-transformers-converter; fed each row's real tokens
                (CTranslate2 takes unpadded rows) and token types; re-padded to the golden's length
  llama-cpp     a BERT GGUF (convert_hf_to_gguf.py); the golden's texts (metadata `texts`) are
                tokenized by llama.cpp's own tokenizer, one row at a time, per-token embeddings
                (pooling none). llama.cpp's BERT graph takes no token types, so none are written.

The file holds the runtime's outputs (its own float dtype), `input_ids` and `attention_mask` as the
runtime used them (and `token_type_ids` where the runtime takes them), so verify sees what was run.
Outputs the runtime names otherwise are written under their own names; --rename THEIRS=GOLDEN
renames one (repeatable).
"""
import argparse
import json
import os
import sys

import numpy as np

RUNTIMES = ("onnxruntime", "openvino", "ctranslate2", "llama-cpp")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
GOLDEN_OUTPUT_NAMES = {"last_hidden_state", "pooler_output", "logits", "start_logits", "end_logits",
                       "prediction_logits", "seq_relationship_logits", "sentence_embedding"}


def fail(message):
    """Unusable input: one line on stderr, exit 2 (bertcheck's contract)."""
    print(f"dump_outputs.py: {message}", file=sys.stderr)
    sys.exit(2)


def read_golden(path):
    """The golden's tensors and its metadata (a .npz has none)."""
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if is_zip:
        with np.load(path) as npz:
            return {name: npz[name] for name in npz.files}, {}
    from safetensors import safe_open
    from safetensors.numpy import load_file
    with safe_open(path, "np") as f:
        metadata = f.metadata() or {}
    return load_file(path), metadata


def golden_texts(metadata, path):
    """[(text, pair or None)] from the golden's `texts` metadata (Docs/golden-format.md)."""
    if "texts" not in metadata:
        fail(f"{path}: the golden has no `texts` metadata; llama-cpp tokenizes the texts itself")
    items = json.loads(metadata["texts"])
    return [(item, None) if isinstance(item, str) else (item[0], item[1]) for item in items]


def write_outputs(path, tensors, metadata):
    tensors = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    if path.endswith(".npz"):
        np.savez(path, **tensors)
    else:
        from safetensors.numpy import save_file
        save_file(tensors, path, metadata=metadata)


def run_onnxruntime(args, inputs):
    import onnxruntime
    options = onnxruntime.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    kinds = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
    feeds = {}
    for spec in session.get_inputs():
        if spec.name not in inputs:
            fail(f"{args.model}: the graph's input {spec.name} is none of {', '.join(INPUT_NAMES)}")
        feeds[spec.name] = inputs[spec.name].astype(kinds.get(spec.type, np.int64))
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, feeds)
    used = {name: inputs[name] for name in feeds}
    return dict(zip(names, values)), used, f"onnxruntime {onnxruntime.__version__}"


def run_openvino(args, inputs):
    import openvino as ov
    core = ov.Core()
    config = {}
    if args.openvino_precision != "default":
        config["INFERENCE_PRECISION_HINT"] = args.openvino_precision
    if args.threads:
        config["INFERENCE_NUM_THREADS"] = args.threads
    compiled = core.compile_model(core.read_model(args.model), "CPU", config)
    feeds = {}
    for port in compiled.inputs:
        name = next((n for n in port.get_names() if n in inputs), None)
        if name is None:
            fail(f"{args.model}: the model's input {port.get_any_name()} is none of {', '.join(INPUT_NAMES)}")
        feeds[name] = inputs[name].astype(np.int32 if port.get_element_type() == ov.Type.i32 else np.int64)
    results = compiled.create_infer_request().infer(feeds)
    outputs = {}
    for port in compiled.outputs:
        names = port.get_names()
        # An output may carry several names (ONNX output and the tensor it aliases): a golden name wins.
        name = next((n for n in sorted(names) if n in GOLDEN_OUTPUT_NAMES or n.startswith("hidden_states.")), port.get_any_name())
        outputs[name] = np.array(results[port])
    precision = compiled.get_property("INFERENCE_PRECISION_HINT")
    return outputs, {name: inputs[name] for name in feeds}, f"openvino {ov.__version__} inference precision {precision.to_string()}"


def run_ctranslate2(args, inputs):
    import ctranslate2
    encoder = ctranslate2.Encoder(args.model, device="cpu", compute_type=args.compute_type,
                                  intra_threads=args.threads or 0)
    mask = inputs["attention_mask"]
    lengths = mask.sum(axis=1)
    ids = [row[:n].tolist() for row, n in zip(inputs["input_ids"], lengths)]
    types = [row[:n].tolist() for row, n in zip(inputs["token_type_ids"], lengths)]
    result = encoder.forward_batch(ids, token_type_ids=types)
    batch, seq = mask.shape
    outputs = {}
    last = np.array(result.last_hidden_state)
    # CTranslate2 pads to its own longest row: put every row back at the golden's length.
    padded = np.zeros((batch, seq, last.shape[-1]), dtype=last.dtype)
    for row, n in enumerate(lengths):
        padded[row, :n] = last[row, :n]
    outputs["last_hidden_state"] = padded
    if result.pooler_output is not None:
        outputs["pooler_output"] = np.array(result.pooler_output)
    return outputs, dict(inputs), f"ctranslate2 {ctranslate2.__version__} compute type {args.compute_type}"


def llama_cpp_rows(llm, texts):
    """Each row's ids as llama.cpp's tokenizer makes them: [CLS] text [SEP] (pair [SEP])."""
    rows = []
    for text, pair in texts:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=True)
        if pair is not None:
            sep = ids[-1]  # add_bos=True appends the vocabulary's separator too
            ids = ids + llm.tokenize(pair.encode("utf-8"), add_bos=False) + [sep]
        rows.append(ids)
    return rows


def run_llama_cpp(args, inputs, texts):
    import llama_cpp
    longest = max(inputs["input_ids"].shape[1], 8)
    context = 1 << (longest * 2 - 1).bit_length()
    llm = llama_cpp.Llama(model_path=args.model, embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_NONE,
                          n_ctx=context, n_batch=context, n_ubatch=context, n_threads=args.threads or None,
                          n_threads_batch=args.threads or None, verbose=False)
    rows = llama_cpp_rows(llm, texts)
    hidden = llm.n_embd()
    seq = max(inputs["input_ids"].shape[1], max(len(r) for r in rows))
    last = np.zeros((len(rows), seq, hidden), dtype=np.float32)
    ids = np.zeros((len(rows), seq), dtype=np.int64)
    mask = np.zeros((len(rows), seq), dtype=np.int64)
    for row, tokens in enumerate(rows):
        # One sequence per decode: llama-cpp-python's embed() reads rows after the first at the
        # wrong offset when a batch holds several sequences with pooling none.
        llm._batch.reset()
        llm._batch.add_sequence(tokens, 0, True)
        llm._ctx.kv_cache_clear()
        llm._ctx.decode(llm._batch)
        pointer = llama_cpp.llama_get_embeddings(llm._ctx.ctx)
        last[row, :len(tokens)] = np.ctypeslib.as_array(pointer, shape=(len(tokens) * hidden,)).reshape(len(tokens), hidden)
        ids[row, :len(tokens)] = tokens
        mask[row, :len(tokens)] = 1
    return {"last_hidden_state": last}, {"input_ids": ids, "attention_mask": mask}, f"llama-cpp-python {llama_cpp.__version__}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", required=True, choices=RUNTIMES)
    parser.add_argument("--model", required=True, help="the converted model (see above)")
    parser.add_argument("--golden", required=True, help="bertcheck-golden/1 safetensors or npz")
    parser.add_argument("--out", required=True, help="outputs file: .npz, otherwise safetensors")
    parser.add_argument("--threads", type=int, default=0, help="runtime threads (default: the runtime's)")
    parser.add_argument("--rename", action="append", default=[], metavar="THEIRS=GOLDEN",
                        help="write the runtime's output THEIRS as GOLDEN (repeatable)")
    parser.add_argument("--openvino-precision", default="f32", choices=("f32", "bf16", "f16", "default"),
                        help="OpenVINO INFERENCE_PRECISION_HINT (default f32; 'default' keeps OpenVINO's choice)")
    parser.add_argument("--compute-type", default="float32", help="CTranslate2 compute type (default float32)")
    args = parser.parse_args()
    for path in (args.model, args.golden):
        if not os.path.exists(path):
            fail(f"{path}: no such file or directory")
    module = {"llama-cpp": "llama_cpp"}.get(args.runtime, args.runtime)
    try:
        __import__(module)
    except ImportError:
        fail(f"{args.runtime}: the Python package {module} is not installed (Scripts/reference-venv.sh --runtimes)")

    golden, metadata = read_golden(args.golden)
    missing = [name for name in INPUT_NAMES if name not in golden]
    if missing:
        fail(f"{args.golden}: the golden lacks {', '.join(missing)}")
    inputs = {name: golden[name].astype(np.int64) for name in INPUT_NAMES}

    if args.runtime == "onnxruntime":
        outputs, used, producer = run_onnxruntime(args, inputs)
    elif args.runtime == "openvino":
        outputs, used, producer = run_openvino(args, inputs)
    elif args.runtime == "ctranslate2":
        outputs, used, producer = run_ctranslate2(args, inputs)
    else:
        outputs, used, producer = run_llama_cpp(args, inputs, golden_texts(metadata, args.golden))

    for pair in args.rename:
        theirs, _, ours = pair.partition("=")
        if theirs not in outputs or not ours:
            fail(f"--rename {pair}: the runtime's outputs are {', '.join(outputs)}")
        outputs[ours] = outputs.pop(theirs)
    tensors = {name: value.astype(np.int64) for name, value in used.items()}
    tensors.update(outputs)
    # One metadata key: safetensors writes several in no fixed order, and the file should be byte-stable.
    model = os.path.basename(os.path.normpath(args.model))
    write_outputs(args.out, tensors, {"producer": f"{producer}, model {model} (Scripts/dump_outputs.py)"})
    shapes = ", ".join(f"{name} {list(value.shape)} {value.dtype}" for name, value in outputs.items())
    print(f"{args.out}: {producer}: {shapes}")


if __name__ == "__main__":
    main()
