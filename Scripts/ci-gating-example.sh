#!/usr/bin/env bash
# CI gating, shown working on the real all-MiniLM-L6-v2 (Docs/ci-gating.md pastes its output):
#  1. record a golden with the Hugging Face reference (transformers + torch, fp32);
#  2. convert the model to fp16 safetensors (numpy + safetensors);
#  3. gate the fp16 model with `bertcheck verify`: passes under the fp16 profile, fails under fp32;
#  4. corrupt one encoder layer and show the report naming it as the first divergence.
# Exits 1 if any step does not behave as described.
set -euo pipefail
cd "$(dirname "$0")/.."
bertcheck="$(Scripts/release-bin.sh)"
model=$(Scripts/fetch-model.sh)
python=$(Scripts/reference-venv.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

expect_status() { # expected-status description command...
  local expected=$1 what=$2; shift 2
  local status=0
  "$@" || status=$?
  echo "→ exit $status ($what)"
  if [[ $status -ne $expected ]]; then echo "UNEXPECTED: wanted exit $expected" >&2; exit 1; fi
}

echo "## 1. Record a golden with transformers"
echo '$ Scripts/record_goldens.py $MODEL goldens/texts/minilm.json golden.safetensors'
"$python" Scripts/record_goldens.py "$model" goldens/texts/minilm.json "$work/golden.safetensors" 2>/dev/null

echo
echo "## 2. Convert the model to fp16 safetensors"
mkdir -p "$work/minilm-fp16" "$work/minilm-corrupt"
"$python" - "$model" "$work" <<'PY'
import shutil, sys
import numpy as np
from safetensors.numpy import load_file, save_file
model, work = sys.argv[1], sys.argv[2]
weights = load_file(f"{model}/model.safetensors")
half = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in weights.items()}
save_file(half, f"{work}/minilm-fp16/model.safetensors", metadata={"format": "pt"})
# The corruption a bad conversion makes: one layer's FFN output weights scaled by 1.02.
corrupt = dict(weights)
corrupt["encoder.layer.3.output.dense.weight"] = weights["encoder.layer.3.output.dense.weight"] * np.float32(1.02)
save_file(corrupt, f"{work}/minilm-corrupt/model.safetensors", metadata={"format": "pt"})
for d in ("minilm-fp16", "minilm-corrupt"):
    for f in ("config.json", "vocab.txt", "tokenizer_config.json"):
        shutil.copy(f"{model}/{f}", f"{work}/{d}/{f}")
print(f"fp16: {sum(v.nbytes for v in half.values()):,} bytes of tensors (fp32: {sum(v.nbytes for v in weights.values()):,})")
PY

echo
echo "## 3a. Gate the fp16 model (profile chosen from its F16 weights)"
echo '$ bertcheck verify --golden golden.safetensors --model minilm-fp16 --junit report.xml'
expect_status 0 "pass under the fp16 profile" "$bertcheck" verify --golden "$work/golden.safetensors" --model "$work/minilm-fp16" --junit "$work/report.xml"

echo
echo "## 3b. The same model under fp32 tolerances"
echo '$ bertcheck verify --golden golden.safetensors --model minilm-fp16 --profile fp32'
expect_status 1 "fails under fp32 tolerances" "$bertcheck" verify --golden "$work/golden.safetensors" --model "$work/minilm-fp16" --profile fp32

echo
echo "## 4. One corrupted layer (encoder.layer.3.output.dense.weight × 1.02)"
echo '$ bertcheck verify --golden golden.safetensors --model minilm-corrupt'
expect_status 1 "fails, first divergence named" "$bertcheck" verify --golden "$work/golden.safetensors" --model "$work/minilm-corrupt"
echo '$ bertcheck verify --golden golden.safetensors --model minilm-corrupt --json | jq-like summary'
"$bertcheck" verify --golden "$work/golden.safetensors" --model "$work/minilm-corrupt" --json > "$work/report.json" || true
"$python" - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("status:", r["status"], "| first_divergence:", r["first_divergence"])
assert r["first_divergence"] == "hidden_states.4", r["first_divergence"]
PY
echo
echo "## 5. What weight diff says about the conversions"
echo '$ bertcheck diff MODEL minilm-fp16'
expect_status 0 "fp16 weights within the fp16 profile" "$bertcheck" diff "$model" "$work/minilm-fp16"
echo '$ bertcheck diff MODEL minilm-corrupt'
expect_status 1 "the corrupted tensor is named" "$bertcheck" diff "$model" "$work/minilm-corrupt"
echo
echo "All gating steps behaved as documented."
