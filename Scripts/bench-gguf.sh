#!/usr/bin/env bash
# Issue 13's speed targets for GGUF, measured as paired rounds (the commands interleaved, their
# order alternating every round, so a shared machine slows both alike):
#   params: `bertcheck params` on a bert-base-sized GGUF (F32 and Q8_0) beside the same model as
#           safetensors, whole process; target at most 20 ms.
#   verify: `bertcheck verify` of the committed MiniLM golden on a Q8_0 GGUF of all-MiniLM-L6-v2
#           against the same golden on the safetensors checkpoint; target at most 1.25x.
# The GGUFs are made by llama.cpp's real converter (convert_hf_to_gguf.py of the llama-cpp-python
# 0.3.36 sdist, as Scripts/make_gguf_fixtures.sh fetches it) from a random-init
# BertModel(BertConfig()) saved with save_pretrained (MiniLM's vocabulary beside it) and from
# all-MiniLM-L6-v2, into ~/.cache/bertcheck/gguf-bench; never committed.
# Prints every round, then a table for Docs/performance.md.
# Usage: Scripts/bench-gguf.sh [rounds]     (BIN=path/to/bertcheck to time another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-15}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/bertcheck"
out="$cache/gguf-bench"
bin="${BIN:-$(Scripts/release-bin.sh --static)}"
minilm="$(Scripts/fetch-model.sh)"
mkdir -p "$out"

convert() {
  [[ -s "$3" ]] && return
  local python llama
  python="$(Scripts/reference-venv.sh)"
  llama="$(Scripts/llama-cpp-source.sh "$python")"
  PYTHONPATH="$llama/gguf-py" "$python" Scripts/convert_hf_to_gguf_tiny.py "$llama" "$1" --outtype "$2" --outfile "$3" \
    2>&1 | grep -E "^(ERROR|Traceback)" >&2 || true
  test -s "$3"
}
if [[ ! -f "$out/bert-base/model.safetensors" ]]; then
  "$(Scripts/reference-venv.sh)" - "$out/bert-base" <<'PY'
import sys, torch
from transformers import BertConfig, BertModel
torch.manual_seed(0)
BertModel(BertConfig()).save_pretrained(sys.argv[1])
PY
  cp "$minilm"/{vocab.txt,tokenizer.json,tokenizer_config.json,special_tokens_map.json} "$out/bert-base/"
fi
convert "$out/bert-base" f32 "$out/bert-base-F32.gguf"
convert "$out/bert-base" q8_0 "$out/bert-base-Q8_0.gguf"
convert "$minilm" q8_0 "$out/all-MiniLM-L6-v2-Q8_0.gguf"

golden=goldens/all-MiniLM-L6-v2.golden.safetensors
# --profile bf16: both pass (the default profile of a Q8_0 GGUF is not what is timed here).
python3 - "$bin" "$rounds" "$out" "$minilm" "$golden" <<'PY'
import os, statistics, subprocess, sys, time, datetime
bin, rounds, out, minilm, golden = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]

def run(args):
    """Wall and CPU (user + sys) seconds of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen([bin] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench-gguf.sh: {' '.join(args)} exited {os.waitstatus_to_exitcode(status)}: {err}")
    return wall, usage.ru_utime + usage.ru_stime

def paired(named, warmup=2):
    for _, args in named:
        for _ in range(warmup): run(args)
    times = {name: [] for name, _ in named}
    loads = []
    for r in range(rounds):
        order = named if r % 2 == 0 else named[::-1]
        for name, args in order:
            times[name].append(run(args))
        loads.append(float(open("/proc/loadavg").read().split()[0]))
        print(f"round {r + 1}: " + ", ".join(f"{n} {times[n][-1][0] * 1000:.1f} ms" for n, _ in named), file=sys.stderr)
    return times, loads

date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
params = [("bert-base F32 GGUF", ["params", f"{out}/bert-base-F32.gguf"]),
          ("bert-base Q8_0 GGUF", ["params", f"{out}/bert-base-Q8_0.gguf"]),
          ("bert-base safetensors", ["params", f"{out}/bert-base"])]
def table(title, named, times, loads, digits):
    print(f"\n{title}, {date}, {rounds} paired rounds, load average {min(loads):.1f}-{max(loads):.1f}")
    print("| command | wall median | wall min | CPU median (user+sys) |")
    print("| --- | --- | --- | --- |")
    for name, _ in named:
        walls, cpus = [w for w, _ in times[name]], [c for _, c in times[name]]
        print(f"| {name} | {statistics.median(walls) * 1000:.{digits}f} ms | {min(walls) * 1000:.{digits}f} ms | "
              f"{statistics.median(cpus) * 1000:.{digits}f} ms |")

table("params", params, *paired(params), 1)

verify = [("safetensors", ["verify", "--golden", golden, "--model", minilm, "--profile", "bf16"]),
          ("Q8_0 GGUF", ["verify", "--golden", golden, "--model", f"{out}/all-MiniLM-L6-v2-Q8_0.gguf", "--profile", "bf16"])]
times, loads = paired(verify)
table("verify all-MiniLM-L6-v2", verify, times, loads, 0)
wall_ratio = statistics.median(g[0] / s[0] for s, g in zip(times["safetensors"], times["Q8_0 GGUF"]))
cpu_ratio = statistics.median(g[1] / s[1] for s, g in zip(times["safetensors"], times["Q8_0 GGUF"]))
print(f"Q8_0 GGUF / safetensors, median of per-round ratios: wall {wall_ratio:.3f}x, CPU {cpu_ratio:.3f}x")
PY
