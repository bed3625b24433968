#!/usr/bin/env bash
# Times `bertcheck verify` of the committed MiniLM golden against the real all-MiniLM-L6-v2, whole
# process (load, forward pass with hidden states, tokenizer check, every comparison, report), with
# hyperfine on a release build. Docs/performance.md "## verify" records the figure.
set -euo pipefail
cd "$(dirname "$0")/.."
bertcheck="$(Scripts/release-bin.sh)"
model=$(Scripts/fetch-model.sh)
golden=goldens/all-MiniLM-L6-v2.golden.safetensors
"$bertcheck" verify --golden "$golden" --model "$model" >/dev/null
hyperfine --warmup 3 --runs "${RUNS:-20}" --export-json "${EXPORT:-/dev/null}" \
  "$bertcheck verify --golden $golden --model $model" \
  "$bertcheck verify --golden $golden --model $model --json --junit ${TMPDIR:-/tmp}/bertcheck-bench-junit.xml" \
  "$bertcheck verify --golden $golden --model $model --threads 1"
