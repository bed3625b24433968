#!/usr/bin/env bash
# Benchmarks `bertcheck params` (whole process: start, read the header, print) on a
# bert-base-uncased-sized safetensors file (440 MB of random F32 weights written with numpy, kept
# in /tmp, never committed). Target (issue 2): at most 20 ms, which only reading the header allows.
# Prints the hyperfine summary and a line for Docs/performance.md.
# Usage: Scripts/bench-params.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-50}"
python="$(Scripts/reference-venv.sh)"
model="${TMPDIR:-/tmp}/bertcheck-bench-bert-base"

# Release, Swift runtime linked statically (see Scripts/release-bin.sh).
bin="$(Scripts/release-bin.sh --static)"

if [[ ! -f "$model/model.safetensors" ]]; then
  mkdir -p "$model"
  "$python" - "$model" <<'PY'
import json, sys
import numpy as np
from safetensors.numpy import save_file
out = sys.argv[1]
H, I, V, P, T, L = 768, 3072, 30522, 512, 2, 12
rng = np.random.default_rng(0)
def w(*shape):
    return (rng.standard_normal(shape, dtype=np.float32) * 0.02)
t = {
    "embeddings.word_embeddings.weight": w(V, H), "embeddings.position_embeddings.weight": w(P, H),
    "embeddings.token_type_embeddings.weight": w(T, H),
    "embeddings.LayerNorm.weight": np.ones(H, np.float32), "embeddings.LayerNorm.bias": np.zeros(H, np.float32),
}
for l in range(L):
    p = f"encoder.layer.{l}."
    for m in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]:
        t[p + m + ".weight"], t[p + m + ".bias"] = w(H, H), w(H)
    t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"] = np.ones(H, np.float32), np.zeros(H, np.float32)
    t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = w(I, H), w(I)
    t[p + "output.dense.weight"], t[p + "output.dense.bias"] = w(H, I), w(H)
    t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"] = np.ones(H, np.float32), np.zeros(H, np.float32)
t["pooler.dense.weight"], t["pooler.dense.bias"] = w(H, H), w(H)
save_file(t, out + "/model.safetensors", metadata={"format": "pt"})
json.dump({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": H, "num_hidden_layers": L,
           "num_attention_heads": 12, "intermediate_size": I, "vocab_size": V, "max_position_embeddings": P,
           "type_vocab_size": T, "hidden_act": "gelu", "layer_norm_eps": 1e-12}, open(out + "/config.json", "w"))
PY
fi

"$bin" params "$model" | grep -E "named parameters|all parameters|2-D" >&2
# Cold page cache is not the point (the header is one page); warm runs measure the process.
uptime >&2
hyperfine --warmup 5 --runs "$runs" --export-json "$model/hyperfine.json" -N "$bin params $model" "$bin params $model --json" >&2
"$python" - "$model/hyperfine.json" <<'PY'
import json, platform, subprocess, sys, datetime
r = json.load(open(sys.argv[1]))["results"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
load = open("/proc/loadavg").read().split()[0]
print("| date | machine | load avg | command | wall mean ± σ | wall min | wall median | CPU (user+sys) |")
for x in r:
    command = "bertcheck " + x["command"].split("bertcheck ", 1)[-1].replace(sys.argv[1].rsplit("/", 1)[0], "bert-base")
    cpu_ms = (x["user"] + x["system"]) * 1000
    print(f"| {date} | {cpu}, {cores} cores | {load} | `{command}` | {x['mean']*1000:.1f} ± {x['stddev']*1000:.1f} ms | "
          f"{x['min']*1000:.1f} ms | {x['median']*1000:.1f} ms | {cpu_ms:.1f} ms |")
PY
