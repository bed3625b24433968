#!/usr/bin/env python3
"""Records the Hugging Face reference outputs the forward-pass tests compare against.

Run with the reference venv:  $(Scripts/reference-venv.sh) Scripts/record_forward_goldens.py

Writes goldens/forward/*.safetensors in the `bertcheck-golden/1` format (Docs/golden-format.md):
input_ids / attention_mask / token_type_ids (I64 [B,S]), last_hidden_state (F32 [B,S,H]),
pooler_output (F32 [B,H]) and, where small enough, hidden_states.0..L.

Models:
- the real all-MiniLM-L6-v2 (Scripts/fetch-model.sh);
- a bert-base-shaped model (12 x 768, vocab 30522) and tiny models (one per hidden_act, and
  F16 / BF16 storage) whose weights come from the splitmix64 scheme below. The Swift tests
  (Tests/BertCheckTests/TestSupport/SyntheticBert.swift) write the very same checkpoints, so
  no weights are committed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers
from safetensors.numpy import save_file
from transformers import BertModel, BertTokenizer

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix_floats(seed, count):
    """Element i (0-based) is mix(seed + (i + 1) * GOLDEN) mapped to [-1, 1) in float32:
    the top 24 bits over 2^24, times 2, minus 1 (all exact in float32)."""
    out = np.empty(count, dtype=np.float32)
    chunk = 1 << 22
    with np.errstate(over="ignore"):
        for start in range(0, count, chunk):
            n = min(chunk, count - start)
            i = np.arange(start + 1, start + n + 1, dtype=np.uint64)
            z = np.uint64(seed) + i * GOLDEN
            z = (z ^ (z >> np.uint64(30))) * MIX1
            z = (z ^ (z >> np.uint64(27))) * MIX2
            z = z ^ (z >> np.uint64(31))
            u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
            out[start:start + n] = u * np.float32(2.0) - np.float32(1.0)
    return out


def synthetic_shapes(cfg, with_pooler=True):
    """Canonical BertModel parameter names and shapes, in the order that numbers the seeds."""
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    shapes = [
        ("embeddings.word_embeddings.weight", (cfg["vocab_size"], h)),
        ("embeddings.position_embeddings.weight", (cfg["max_position_embeddings"], h)),
        ("embeddings.token_type_embeddings.weight", (cfg["type_vocab_size"], h)),
        ("embeddings.LayerNorm.weight", (h,)),
        ("embeddings.LayerNorm.bias", (h,)),
    ]
    for n in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{n}."
        for proj in ("query", "key", "value"):
            shapes += [(p + f"attention.self.{proj}.weight", (h, h)), (p + f"attention.self.{proj}.bias", (h,))]
        shapes += [
            (p + "attention.output.dense.weight", (h, h)), (p + "attention.output.dense.bias", (h,)),
            (p + "attention.output.LayerNorm.weight", (h,)), (p + "attention.output.LayerNorm.bias", (h,)),
            (p + "intermediate.dense.weight", (i, h)), (p + "intermediate.dense.bias", (i,)),
            (p + "output.dense.weight", (h, i)), (p + "output.dense.bias", (h,)),
            (p + "output.LayerNorm.weight", (h,)), (p + "output.LayerNorm.bias", (h,)),
        ]
    if with_pooler:
        shapes += [("pooler.dense.weight", (h, h)), ("pooler.dense.bias", (h,))]
    return shapes


def synthetic_weights(cfg, scale):
    """LayerNorm weights 1 + 0.1 u, everything else scale * u, u uniform in [-1, 1)."""
    tensors = {}
    for seed, (name, shape) in enumerate(synthetic_shapes(cfg), start=1):
        u = splitmix_floats(seed, int(np.prod(shape)))
        if name.endswith("LayerNorm.weight"):
            values = u * np.float32(0.1) + np.float32(1.0)
        else:
            values = u * np.float32(scale)
        tensors[name] = values.reshape(shape)
    return tensors


def write_synthetic(directory, cfg, scale, dtype="F32"):
    os.makedirs(directory, exist_ok=True)
    tensors = synthetic_weights(cfg, scale)
    if dtype == "F16":
        tensors = {k: v.astype(np.float16) for k, v in tensors.items()}
    elif dtype == "BF16":
        # Round to nearest even, as torch's .to(torch.bfloat16) does.
        tensors = {k: torch.from_numpy(v).to(torch.bfloat16) for k, v in tensors.items()}
    if dtype == "BF16":
        from safetensors.torch import save_file as save_torch
        save_torch(tensors, os.path.join(directory, "model.safetensors"))
    else:
        save_file(tensors, os.path.join(directory, "model.safetensors"))
    full = dict(cfg, model_type="bert", architectures=["BertModel"])
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(full, f, indent=2)


BERT_BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512,
                 type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0)


def tiny(hidden_act):
    return dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=64, hidden_act=hidden_act, max_position_embeddings=40,
                type_vocab_size=3, layer_norm_eps=1e-5, pad_token_id=0)


def run_model(model_dir, ids, mask, types, hidden_states):
    model = BertModel.from_pretrained(model_dir, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids, dtype=torch.int64),
                    attention_mask=torch.tensor(mask, dtype=torch.int64),
                    token_type_ids=torch.tensor(types, dtype=torch.int64),
                    output_hidden_states=hidden_states)
    result = {
        "input_ids": np.array(ids, dtype=np.int64),
        "attention_mask": np.array(mask, dtype=np.int64),
        "token_type_ids": np.array(types, dtype=np.int64),
        "last_hidden_state": out.last_hidden_state.numpy().astype(np.float32),
        "pooler_output": out.pooler_output.numpy().astype(np.float32),
    }
    if hidden_states:
        for n, h in enumerate(out.hidden_states):
            result[f"hidden_states.{n}"] = h.numpy().astype(np.float32)
    return result


def encode(tokenizer, items, max_length=None):
    texts = [t if isinstance(t, str) else t[0] for t in items]
    pairs = [None if isinstance(t, str) else t[1] for t in items]
    if all(p is None for p in pairs):
        enc = tokenizer(texts, padding=True, truncation=max_length is not None, max_length=max_length)
    else:
        enc = tokenizer(texts, [p or "" for p in pairs], padding=True)
        # A pair-less row must look like a single text: re-encode such rows alone.
        if any(p is None for p in pairs):
            raise ValueError("mix of texts and pairs: encode separately")
    return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]


def save_golden(path, tensors, texts, model, note=""):
    meta = {
        "format": "bertcheck-golden/1",
        "model": model,
        "producer": f"transformers {transformers.__version__}, torch {torch.__version__} "
                    f"(BertModel, eager attention, fp32){note}",
    }
    if texts is not None:
        meta["texts"] = json.dumps(texts, ensure_ascii=False)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, path, metadata=meta)
    print(f"wrote {path} ({os.path.getsize(path):,} bytes)", file=sys.stderr)


NOTEBOOK_TEXT = "Agney really loves Pokemon, Lucario is his favorite."
PAIRS = [
    ["How old are you?", "I am six years old."],
    ["The cat sat on the mat.", "A dog barked loudly at the mailman this morning."],
    ["Hello world", "Hi"],
    ["Résumé of a naïve café owner", "北京 is a city; emoji 🙂 too."],
]
SHORT_PAIRS = [["How old are you?", "Six."], ["Hello world", "Hi"], ["Résumé", "北京 🙂"]]
LONG_TEXT = " ".join(["the quick brown fox jumps over the lazy dog while bertcheck verifies every layer"] * 40)


def random_inputs(rng, cfg, lengths):
    """Random ids, token types and right padding for the tiny models (ids drawn over the whole
    vocabulary, token types over the whole type table)."""
    b, s = len(lengths), max(lengths)
    ids = rng.integers(0, cfg["vocab_size"], size=(b, s))
    types = rng.integers(0, cfg["type_vocab_size"], size=(b, s))
    mask = np.zeros((b, s), dtype=np.int64)
    for r, n in enumerate(lengths):
        mask[r, :n] = 1
        ids[r, n:] = 0
        types[r, n:] = 0
    return ids.tolist(), mask.tolist(), types.tolist()


def record_torch_print(out_dir):
    """How torch prints tensors (for the `run` previews): a few shapes and value ranges."""
    from safetensors.numpy import load_file
    golden = load_file(os.path.join(out_dir, "minilm-single.safetensors"))
    rng = np.random.default_rng(7)
    cases = {
        "last_hidden_state": golden["last_hidden_state"],
        "pooler_output": golden["pooler_output"],
        "pooler_row_sci": np.tanh(rng.standard_normal((1, 40)).astype(np.float32) * 30),
        "small_2d": rng.standard_normal((3, 5)).astype(np.float32),
        "integers": np.arange(12, dtype=np.float32).reshape(2, 6),
        "tiny_values": (rng.standard_normal((2, 3)) * 1e-6).astype(np.float32),
        "long_rows": rng.standard_normal((9, 120)).astype(np.float32) * 3,
        "zeros": np.zeros((2, 2), dtype=np.float32),
    }
    cases["pooler_row_sci"][0, 3] = 0.00005
    printed = [{"name": k, "shape": list(v.shape), "values": [float(x) for x in v.reshape(-1)],
                "torch": str(torch.from_numpy(np.ascontiguousarray(v)))} for k, v in cases.items()]
    with open(os.path.join(out_dir, "torch-print.json"), "w") as f:
        json.dump(printed, f)
    print(f"wrote {os.path.join(out_dir, 'torch-print.json')}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minilm", default=None, help="all-MiniLM-L6-v2 directory (default: Scripts/fetch-model.sh)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "goldens", "forward"))
    parser.add_argument("--only-print", action="store_true", help="only record torch-print.json")
    args = parser.parse_args()
    if args.only_print:
        record_torch_print(args.out)
        return
    torch.set_num_threads(1)
    minilm = args.minilm or subprocess.check_output([os.path.join(os.path.dirname(__file__), "fetch-model.sh")], text=True).strip()
    os.makedirs(args.out, exist_ok=True)
    tokenizer = BertTokenizer.from_pretrained(minilm)

    # all-MiniLM-L6-v2: the notebook's single text, a padded batch of pairs, and a full-length row.
    ids, mask, types = encode(tokenizer, [NOTEBOOK_TEXT])
    save_golden(os.path.join(args.out, "minilm-single.safetensors"),
                run_model(minilm, ids, mask, types, True), [NOTEBOOK_TEXT], "all-MiniLM-L6-v2")
    ids, mask, types = encode(tokenizer, PAIRS)
    save_golden(os.path.join(args.out, "minilm-pairs.safetensors"),
                run_model(minilm, ids, mask, types, True), PAIRS, "all-MiniLM-L6-v2")
    ids, mask, types = encode(tokenizer, [LONG_TEXT], max_length=512)
    save_golden(os.path.join(args.out, "minilm-512.safetensors"),
                run_model(minilm, ids, mask, types, False), [LONG_TEXT], "all-MiniLM-L6-v2",
                note="; rows truncated to 512 tokens")

    with tempfile.TemporaryDirectory() as tmp:
        # bert-base-shaped synthetic model: a padded batch of three short pairs, every layer recorded.
        base = os.path.join(tmp, "bert-base")
        write_synthetic(base, BERT_BASE, 0.05)
        ids, mask, types = encode(tokenizer, SHORT_PAIRS)
        save_golden(os.path.join(args.out, "bertbase-pairs.safetensors"),
                    run_model(base, ids, mask, types, True), SHORT_PAIRS,
                    "synthetic bert-base (splitmix64 weights, scale 0.05)")
        ids, mask, types = encode(tokenizer, [NOTEBOOK_TEXT])
        save_golden(os.path.join(args.out, "bertbase-single.safetensors"),
                    run_model(base, ids, mask, types, False), [NOTEBOOK_TEXT],
                    "synthetic bert-base (splitmix64 weights, scale 0.05)")

        # Tiny models: each activation, and F16 / BF16 storage. Random ids and token types,
        # right padding; the last row fills the whole position table.
        rng = np.random.default_rng(4)
        for act, dtype in [("gelu", "F32"), ("gelu_new", "F32"), ("gelu_pytorch_tanh", "F32"),
                           ("relu", "F32"), ("gelu", "F16"), ("gelu", "BF16")]:
            cfg = tiny(act)
            d = os.path.join(tmp, f"tiny-{act}-{dtype}")
            write_synthetic(d, cfg, 0.3, dtype)
            ids, mask, types = random_inputs(rng, cfg, [7, 3, cfg["max_position_embeddings"]])
            save_golden(os.path.join(args.out, f"tiny-{act}-{dtype.lower()}.safetensors"),
                        run_model(d, ids, mask, types, True), None,
                        f"synthetic tiny {act} {dtype} (splitmix64 weights, scale 0.3)")
    record_torch_print(args.out)


if __name__ == "__main__":
    main()
