#!/usr/bin/env bash
# Benchmarks `bertcheck params` (whole process) on a bert-base-uncased-sized pytorch_model.bin
# (torch.save zip, 438 MB: the pickle and central directory are read, the storages only mapped)
# and on a copy with every entry deflated (405 MB: every storage inflated and CRC-checked).
# The checkpoints are made once by the reference python (random weights, in /tmp, never
# committed). Prints the hyperfine summaries and lines for Docs/performance.md.
# Usage: Scripts/bench-pytorch-bin.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
python="$(Scripts/reference-venv.sh)"
root="${TMPDIR:-/tmp}/bertcheck-bench-pytorch"

# Release, Swift runtime linked statically (see Scripts/release-bin.sh).
bin="$(Scripts/release-bin.sh --static)"

if [[ ! -f "$root/bert-base-deflated/pytorch_model.bin" ]]; then
  mkdir -p "$root/bert-base" "$root/bert-base-deflated"
  "$python" - "$root" <<'PY'
import os, sys, zipfile, torch
from transformers import BertConfig, BertModel
root = sys.argv[1]
config = BertConfig()  # bert-base-uncased shapes: vocab 30522, hidden 768, 12 layers
torch.manual_seed(0)
model = BertModel(config)
for name in ("bert-base", "bert-base-deflated"):
    config.to_json_file(os.path.join(root, name, "config.json"))
stored = os.path.join(root, "bert-base", "pytorch_model.bin")
torch.save(model.state_dict(), stored)
with zipfile.ZipFile(stored) as src, \
        zipfile.ZipFile(os.path.join(root, "bert-base-deflated", "pytorch_model.bin"), "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))
PY
fi

"$bin" params "$root/bert-base" | grep -E "named parameters|all parameters" >&2
uptime >&2
hyperfine --warmup 5 --runs "$runs" --export-json "$root/stored.json" -N "$bin params $root/bert-base" >&2
hyperfine --warmup 1 --runs 5 --export-json "$root/deflated.json" -N "$bin params $root/bert-base-deflated" >&2
"$python" - "$root/stored.json" "$root/deflated.json" <<'PY'
import json, os, subprocess, sys, datetime
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
load = os.getloadavg()[0]
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
for path, label in zip(sys.argv[1:], ["`bertcheck params` bert-base .bin (stored)", "`bertcheck params` bert-base .bin (deflated)"]):
    r = json.load(open(path))["results"][0]
    ms = lambda s: f"{s * 1000:.1f} ms"
    print(f"| {now} | {cpu}, {cores} cores | {load:.2f} | {label} | {ms(r['mean'])} ± {ms(r['stddev'])} | "
          f"{ms(r['min'])} | {ms(r['median'])} | {ms(r['user'] + r['system'])} |")
PY
