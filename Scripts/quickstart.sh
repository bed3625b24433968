#!/usr/bin/env bash
# The README's first command: installs what a fresh Debian machine lacks (Scripts/setup.sh: zlib,
# OpenBLAS, the real all-MiniLM-L6-v2 model), builds bertcheck (release), then runs the main job on
# the real model: list its parameters and gate it against the golden outputs transformers recorded
# for it (exit 0 pass, 1 fail, 2 unusable input).
# Usage: Scripts/quickstart.sh [MODEL_DIR] (default: the fetched all-MiniLM-L6-v2)
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
model="${1:-$(Scripts/fetch-model.sh)}"
bin="$(Scripts/release-bin.sh)"
echo "\$ bertcheck params $model"
"$bin" params "$model"
echo
echo "\$ bertcheck verify --golden goldens/all-MiniLM-L6-v2.golden.safetensors --model $model"
"$bin" verify --golden goldens/all-MiniLM-L6-v2.golden.safetensors --model "$model"
