#!/usr/bin/env python3
"""PyTorch side of Scripts/bench.sh: times transformers' BertModel on the same fixed ids as
`bertcheck bench` and prints the same JSON keys. Also writes the bert-base-shaped random
checkpoint the benchmark uses (--write-model DIR)."""
import argparse
import json
import os
import sys
import time


def write_model(directory):
    import numpy as np
    from safetensors.numpy import save_file
    cfg = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
               intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2,
               layer_norm_eps=1e-12, pad_token_id=0, model_type="bert", architectures=["BertModel"])
    rng = np.random.default_rng(0)
    h, i = cfg["hidden_size"], cfg["intermediate_size"]

    def normal(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)).astype(np.float32)

    t = {"embeddings.word_embeddings.weight": normal(cfg["vocab_size"], h),
         "embeddings.position_embeddings.weight": normal(cfg["max_position_embeddings"], h),
         "embeddings.token_type_embeddings.weight": normal(cfg["type_vocab_size"], h),
         "embeddings.LayerNorm.weight": np.ones(h, np.float32), "embeddings.LayerNorm.bias": np.zeros(h, np.float32)}
    for n in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{n}."
        for name, shape in [("attention.self.query", (h, h)), ("attention.self.key", (h, h)),
                            ("attention.self.value", (h, h)), ("attention.output.dense", (h, h)),
                            ("intermediate.dense", (i, h)), ("output.dense", (h, i))]:
            t[p + name + ".weight"] = normal(*shape)
            t[p + name + ".bias"] = normal(shape[0])
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + ln + ".weight"] = np.ones(h, np.float32)
            t[p + ln + ".bias"] = np.zeros(h, np.float32)
    t["pooler.dense.weight"] = normal(h, h)
    t["pooler.dense.bias"] = normal(h)
    os.makedirs(directory, exist_ok=True)
    save_file(t, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def bench_batch(vocab, batch, seq, lengths):
    """The padded batch `bertcheck bench` times, as numpy int64 arrays (ids, mask, types): ids
    (t * 7919 + 1000) mod vocab over the flat [batch, seq] index; with `lengths` (comma-separated
    real tokens per row) batch = their count, seq = the longest, and padded positions id 0, mask 0."""
    import numpy as np
    if lengths:
        real = [int(x) for x in lengths.split(",")]
        batch, seq = len(real), max(real)
    else:
        real = [seq] * batch
    ids = (np.arange(batch * seq, dtype=np.int64) * 7919 + 1000) % vocab
    ids = ids.reshape(batch, seq)
    mask = (np.arange(seq)[None, :] < np.array(real)[:, None]).astype(np.int64)
    ids = ids * mask
    return ids, mask, np.zeros_like(ids), sum(real)


def report(real_tokens, ms, ids, threads, iterations, **extra):
    print(json.dumps({"tokens_per_second": round(real_tokens / (ms / 1000), 2), "ms_per_batch": round(ms, 3),
                      "batch": int(ids.shape[0]), "seq": int(ids.shape[1]), "real_tokens": int(real_tokens),
                      "threads": threads, "iterations": iterations, **extra}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--lengths", help="real tokens per row, comma-separated (replaces --batch/--seq)")
    parser.add_argument("--write-model", metavar="DIR")
    args = parser.parse_args()
    if args.write_model:
        write_model(args.write_model)
        return
    import torch
    from transformers import BertModel
    torch.set_num_threads(args.threads)
    model = BertModel.from_pretrained(args.model).eval()
    vocab = model.config.vocab_size
    # The batch `bertcheck bench` times (padded with id 0, mask 0 under --lengths).
    ids, mask, types, real_tokens = bench_batch(vocab, args.batch, args.seq, args.lengths)
    ids, mask, types = (torch.from_numpy(a) for a in (ids, mask, types))
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        start = time.perf_counter()
        for _ in range(args.iterations):
            model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        elapsed = time.perf_counter() - start
    report(real_tokens, elapsed * 1000 / args.iterations, ids, args.threads, args.iterations,
           attention=model.config._attn_implementation)


if __name__ == "__main__":
    sys.exit(main())
