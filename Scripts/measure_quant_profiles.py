#!/usr/bin/env python3
"""Measures how far quantized conversions of a BERT model land from its transformers golden, the
figures the quantized tolerance profiles (int8, q8, q6, q5, q4) were chosen from, and whether each
profile fails a conversion with one layer's weights scaled by 1.02 (Docs/golden-format.md,
"Tolerances").

    $(Scripts/reference-venv.sh --converters) Scripts/measure_quant_profiles.py \
        [--bertcheck .build/debug/bertcheck] [--out table.md] [--dumps goldens/profiles]

For each model (all-MiniLM-L6-v2 from Scripts/fetch-model.sh; a bert-base-shaped BertModel, random
init with seed 0, as no trained bert-base-sized BERT is reachable from PyPI):
  - a golden of 16 texts (goldens/texts/minilm.json, sentences.json and the lines below), recorded
    by Scripts/record_goldens.py;
  - GGUFs made by llama.cpp's converter and quantizer (Scripts/convert_hf_to_gguf_tiny.py,
    Scripts/gguf_quantize.py) in every ftype users make (llama.cpp's own per-tensor mixes), run by
    `bertcheck verify --model` with the profile bertcheck infers;
  - ONNX Runtime int8 (quantize_dynamic, per tensor and per channel) of a torch.onnx.export with
    every hidden state, run by onnxruntime on the golden's inputs, gated by
    `bertcheck verify --outputs --profile int8`;
  - the same conversions (one ftype per profile) of the model with one weight matrix of layer 3
    scaled: by 1.02 (the FFN output, the attention output, the query), and by 1.1-1.5 to find the
    smallest change each profile catches, against the unchanged golden.
Every verify runs with the profile bertcheck infers (GGUF) or --profile int8 (ORT), so the verdicts
are those of the floors in the bertcheck given.
Everything big lives in ~/.cache/bertcheck/quant-profiles and is made once. --dumps writes the small
test material: MiniLM's ORT int8 outputs (per tensor and per channel) on
goldens/all-MiniLM-L6-v2.golden.safetensors, last_hidden_state and pooler_output only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "bertcheck")
WORK = os.path.join(CACHE, "quant-profiles")
LLAMA_VERSION = "0.3.36"
LLAMA = os.path.join(CACHE, f"llama_cpp_python-{LLAMA_VERSION}", "vendor", "llama.cpp")

# llama.cpp ftypes as users make them (its per-tensor mixes and fallbacks, not --pure).
FTYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q5_1", "Q5_0", "Q4_K_M", "Q4_1", "Q4_0", "Q3_K_M", "Q2_K"]
# One ftype per profile for the perturbed conversions.
PERTURBED_FTYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M"]
FFN_OUT = "encoder.layer.3.output.dense.weight"
ATTN_OUT = "encoder.layer.3.attention.output.dense.weight"
QUERY = "encoder.layer.3.attention.self.query.weight"
# (tensor, scale): 2% of one matrix, and larger scales to find what each profile does catch.
PERTURBATIONS = {
    "all-MiniLM-L6-v2": [(FFN_OUT, 1.02), (ATTN_OUT, 1.02), (QUERY, 1.02), (FFN_OUT, 1.1), (FFN_OUT, 1.25), (FFN_OUT, 1.5),
                         (ATTN_OUT, 1.5), (QUERY, 1.5)],
    "bert-base-shaped": [(FFN_OUT, 1.02), (QUERY, 1.02), (FFN_OUT, 1.25), (FFN_OUT, 1.5)],
}
MORE_TEXTS = [
    "A man is playing a guitar on the stage.",
    "The stock market fell sharply after the announcement.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Can you recommend a good restaurant near the station?",
    "The committee postponed its decision until next Tuesday.",
    "Water boils at one hundred degrees Celsius at sea level.",
]
KEEP = ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run(cmd, ok=(0,)):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def plain_model(source, target, perturb=None, scale=1.0):
    """The checkpoint without sentence-transformers files (so text pairs can be recorded), one
    weight scaled when asked."""
    if os.path.exists(os.path.join(target, "model.safetensors")):
        return target
    os.makedirs(target, exist_ok=True)
    for name in KEEP:
        if os.path.exists(os.path.join(source, name)):
            shutil.copy(os.path.join(source, name), target)
    tensors = load_file(os.path.join(source, "model.safetensors"))
    if perturb:
        key = next(k for k in tensors if k.endswith(perturb))
        tensors[key] = (tensors[key] * np.float32(scale)).astype(tensors[key].dtype)
    save_file(tensors, os.path.join(target, "model.safetensors"), metadata={"format": "pt"})
    return target


def bert_base_shaped(minilm):
    """bert-base's shape (12 layers, hidden 768, 3072, 12 heads) with random init (seed 0) and
    MiniLM's uncased vocabulary (same 30522 ids)."""
    target = os.path.join(WORK, "bert-base-shaped")
    if os.path.exists(os.path.join(target, "model.safetensors")):
        return target
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    model = BertModel(BertConfig()).eval()
    model.save_pretrained(target, safe_serialization=True)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(minilm, name), target)
    return target


def texts_file():
    path = os.path.join(WORK, "texts.json")
    items = []
    for name in ("minilm.json", "sentences.json"):
        with open(os.path.join(ROOT, "goldens", "texts", name)) as f:
            items += json.load(f)
    with open(path, "w") as f:
        json.dump(items + MORE_TEXTS, f, ensure_ascii=False, indent=1)
    return path


def record(model_dir, out):
    if not os.path.exists(out):
        run([sys.executable, os.path.join(HERE, "record_goldens.py"), model_dir, texts_file(), out])
    return out


def llama_cpp():
    if not os.path.exists(os.path.join(LLAMA, "convert_hf_to_gguf.py")):
        run([os.path.join(os.path.dirname(sys.executable), "pip"), "download", "--quiet", "--no-binary", ":all:", "--no-deps",
             f"llama-cpp-python=={LLAMA_VERSION}", "-d", CACHE])
        with tarfile.open(os.path.join(CACHE, f"llama_cpp_python-{LLAMA_VERSION}.tar.gz")) as tar:
            tar.extractall(CACHE, filter="data")
    return LLAMA


def gguf(model_dir, stem, ftype):
    f32 = os.path.join(WORK, f"{stem}-F32.gguf")
    if not os.path.exists(f32):
        env = dict(os.environ, PYTHONPATH=os.path.join(llama_cpp(), "gguf-py"))
        result = subprocess.run([sys.executable, os.path.join(HERE, "convert_hf_to_gguf_tiny.py"), llama_cpp(), model_dir,
                                 "--outtype", "f32", "--outfile", f32], capture_output=True, text=True, env=env)
        if result.returncode != 0 or not os.path.exists(f32):
            sys.exit(f"converting {model_dir}: {result.stderr[-2000:]}")
    if ftype == "F32":
        return f32
    out = os.path.join(WORK, f"{stem}-{ftype}.gguf")
    if not os.path.exists(out):
        run([sys.executable, os.path.join(HERE, "gguf_quantize.py"), f32, out, ftype])
    return out


class Exported(torch.nn.Module):
    """BertModel with the three inputs positional and every output out, under golden names."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                        output_hidden_states=True)
        return (out.last_hidden_state, out.pooler_output, *out.hidden_states)


def onnx_int8(model_dir, stem, per_channel):
    """ONNX Runtime's dynamic int8 quantization of an fp32 export; returns the model path."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import BertModel
    fp32 = os.path.join(WORK, f"{stem}.onnx")
    if not os.path.exists(fp32):
        model = Exported(BertModel.from_pretrained(model_dir, attn_implementation="eager").eval())
        layers = model.bert.config.num_hidden_layers
        ids = torch.randint(5, 1000, (2, 8))
        names = ["last_hidden_state", "pooler_output"] + [f"hidden_states.{n}" for n in range(layers + 1)]
        axes = {n: {0: "batch", 1: "sequence"} for n in ["input_ids", "attention_mask", "token_type_ids"] + names if n != "pooler_output"}
        axes["pooler_output"] = {0: "batch"}
        torch.onnx.export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), fp32, dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=names, dynamic_axes=axes)
    out = os.path.join(WORK, f"{stem}-int8-{'per-channel' if per_channel else 'per-tensor'}.onnx")
    if not os.path.exists(out):
        quantize_dynamic(fp32, out, weight_type=QuantType.QInt8, per_channel=per_channel)
    return out


def ort_outputs(onnx_path, golden, out, names=None):
    """onnxruntime's outputs on the golden's own inputs, as an npz under golden names."""
    import onnxruntime
    if os.path.exists(out):
        return out
    inputs = load_file(golden)
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    feeds = {i.name: inputs[i.name].astype(np.int64) for i in session.get_inputs()}
    values = session.run(None, feeds)
    arrays = {o.name: v.astype(np.float32) for o, v in zip(session.get_outputs(), values) if names is None or o.name in names}
    np.savez_compressed(out, **arrays)
    return out


def verify(bertcheck, golden, *args):
    result = run([bertcheck, "verify", "--golden", golden, "--json", *args], ok=(0, 1))
    return json.loads(result.stdout)


def summary(report):
    """The figures of one verify report: per layer min token cosine, overall maxima and minima."""
    checks = {c["name"]: c for c in report["checks"]}
    layers = sorted((int(n.split(".")[1]), c) for n, c in checks.items() if n.startswith("hidden_states."))
    last = checks.get("last_hidden_state", {})
    token_cosines = [c["min_cosine"] for _, c in layers if c.get("min_cosine") is not None] + [last.get("min_cosine") or 1]
    pooled = checks.get("mean_pooled", {})
    return {
        "profile": report["profile"],
        "status": report["status"],
        "max_abs": max((c.get("max_abs_err") or 0) for n, c in checks.items() if n != "input_ids"),
        "mean_abs": last.get("mean_abs_err"),
        "layer_cosines": [c.get("min_cosine") for _, c in layers],
        "min_token_cosine": min(token_cosines),
        "min_row_cosine": pooled.get("min_cosine"),
        "pooler_cosine": checks.get("pooler_output", {}).get("min_cosine"),
        "failing": [n for n, c in checks.items() if c["status"] == "fail"],
        "first_divergence": report.get("first_divergence"),
    }


def measure_model(bertcheck, name, source, stem):
    model = plain_model(source, os.path.join(WORK, stem)) if name == "all-MiniLM-L6-v2" else source
    golden = record(model, os.path.join(WORK, f"{stem}.golden.safetensors"))
    rows = []
    for ftype in ["F32"] + FTYPES:
        log(f"{name} {ftype}")
        rows.append((name, ftype, "correct", summary(verify(bertcheck, golden, "--model", gguf(model, stem, ftype)))))
    for per_channel in (False, True):
        kind = "int8 per-channel" if per_channel else "int8 per-tensor"
        log(f"{name} {kind}")
        dump = ort_outputs(onnx_int8(model, stem, per_channel), golden, os.path.join(WORK, f"{stem}-{kind.replace(' ', '-')}.npz"))
        rows.append((name, f"ORT {kind}", "correct", summary(verify(bertcheck, golden, "--outputs", dump, "--profile", "int8"))))
    for tensor, scale in PERTURBATIONS[stem]:
        pstem = f"{stem}-{tensor.replace('encoder.layer.', 'L').replace('.weight', '')}-x{scale}"
        perturbed = plain_model(model, os.path.join(WORK, pstem), perturb=tensor, scale=scale)
        change = f"{tensor.replace('encoder.layer.', 'layer ').replace('.weight', '')} ×{scale}"
        for ftype in ["F32"] + PERTURBED_FTYPES:
            log(f"{name} {change} {ftype}")
            rows.append((name, ftype, change, summary(verify(bertcheck, golden, "--model", gguf(perturbed, pstem, ftype)))))
        log(f"{name} {change} int8 per-channel")
        dump = ort_outputs(onnx_int8(perturbed, pstem, True), golden, os.path.join(WORK, f"{pstem}-int8-per-channel.npz"))
        rows.append((name, "ORT int8 per-channel", change, summary(verify(bertcheck, golden, "--outputs", dump, "--profile", "int8"))))
    return rows


def fmt(x, digits=4):
    """A cosine with seven decimals, an error with `digits` significant digits."""
    if x is None:
        return "–"
    return f"{x:.7f}" if digits == 4 and 0.5 < x <= 1 else f"{x:.{digits}g}"


def table(rows):
    lines = ["| model | weights | change | profile | verdict | max abs | mean abs (last) | min token cos | min cos per layer (hidden_states.1…L) | min mean-pooled row cos |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for model, weights, change, s in rows:
        layers = " ".join(f"{c:.5f}" for c in s["layer_cosines"][1:] if c is not None)
        verdict = "pass" if s["status"] == "pass" else "FAIL (" + ", ".join(s["failing"][:3]) + ("…" if len(s["failing"]) > 3 else "") + ")"
        lines.append(f"| {model} | {weights} | {change} | {s['profile']} | {verdict} | {fmt(s['max_abs'], 3)} | {fmt(s['mean_abs'], 3)} | "
                     f"{fmt(s['min_token_cosine'])} | {layers} | {fmt(s['min_row_cosine'])} |")
    return "\n".join(lines) + "\n"


def condensed(rows):
    """The two tables of Docs/golden-format.md: correct conversions; one layer changed."""
    out = ["Correct conversions (min cosine per layer: `hidden_states.1` … the last layer):", "",
           "| model | weights | profile | verdict | max abs | mean abs | min token cos | min cos per layer | min mean-pooled row cos |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for model, weights, change, s in rows:
        if change != "correct":
            continue
        layers = " ".join(f"{c:.4f}" for c in s["layer_cosines"][1:] if c is not None)
        verdict = "pass" if s["status"] == "pass" else "**FAIL**"
        out.append(f"| {model} | {weights} | {s['profile']} | {verdict} | {fmt(s['max_abs'], 3)} | {fmt(s['mean_abs'], 3)} | "
                   f"{fmt(s['min_token_cosine'])} | {layers} | {fmt(s['min_row_cosine'])} |")
    columns = ["F32"] + PERTURBED_FTYPES + ["ORT int8 per-channel"]
    out += ["", "One matrix of layer 3 scaled (each cell: verdict under the profile the conversion gets, "
            "least per-token cosine / least mean-pooled row cosine):", "",
            "| model | change | " + " | ".join(columns) + " |", "| --- | --- | " + " | ".join("---" for _ in columns) + " |"]
    changes = []
    for model, weights, change, s in rows:
        if change != "correct" and (model, change) not in changes:
            changes.append((model, change))
    for model, change in changes:
        cells = []
        for column in columns:
            s = next((s for m, w, c, s in rows if m == model and c == change and w == column), None)
            if s is None:
                cells.append("–")
                continue
            verdict = "pass" if s["status"] == "pass" else "**FAIL**"
            row = f" / {s['min_row_cosine']:.4f}" if s["min_row_cosine"] is not None else ""
            cells.append(f"{verdict} {s['min_token_cosine']:.4f}{row}")
        out.append(f"| {model} | {change} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def write_dumps(directory, minilm):
    """Small committed material: ORT int8 outputs of MiniLM on the committed golden."""
    os.makedirs(directory, exist_ok=True)
    golden = os.path.join(ROOT, "goldens", "all-MiniLM-L6-v2.golden.safetensors")
    model = plain_model(minilm, os.path.join(WORK, "all-MiniLM-L6-v2"))
    for per_channel in (False, True):
        kind = "per-channel" if per_channel else "per-tensor"
        out = os.path.join(directory, f"all-MiniLM-L6-v2-ort-int8-{kind}.npz")
        if os.path.exists(out):
            os.remove(out)
        ort_outputs(onnx_int8(model, "all-MiniLM-L6-v2", per_channel), golden, out, names={"last_hidden_state", "pooler_output"})
        log(f"{out}: {os.path.getsize(out)} bytes")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bertcheck", default=os.path.join(ROOT, ".build", "debug", "bertcheck"))
    parser.add_argument("--out", help="write the tables of Docs/golden-format.md here (default: stdout); the full "
                        "table goes to ~/.cache/bertcheck/quant-profiles/measurements.md")
    parser.add_argument("--dumps", help="write the committed ORT int8 dumps of MiniLM into this directory")
    parser.add_argument("--models", default="minilm,bert-base", help="comma-separated: minilm, bert-base")
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    minilm = run([os.path.join(HERE, "fetch-model.sh")]).stdout.strip()
    if args.dumps:
        write_dumps(args.dumps, minilm)
    rows = []
    chosen = args.models.split(",")
    if "minilm" in chosen:
        rows += measure_model(args.bertcheck, "all-MiniLM-L6-v2", minilm, "all-MiniLM-L6-v2")
    if "bert-base" in chosen:
        rows += measure_model(args.bertcheck, "bert-base-shaped (random init)", bert_base_shaped(minilm), "bert-base-shaped")
    text = condensed(rows)
    with open(os.path.join(WORK, "measurements.json"), "w") as f:
        json.dump(rows, f, indent=1)
    with open(os.path.join(WORK, "measurements.md"), "w") as f:
        f.write(table(rows))
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
