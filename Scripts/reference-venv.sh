#!/usr/bin/env bash
# Creates (once) the venv holding the reference implementation (transformers + torch, pinned in
# Scripts/requirements.txt) outside the repository, and prints its python. Only Scripts/ use it.
set -euo pipefail
venv="${BERTCHECK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/bertcheck/venv}"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import torch, transformers, safetensors, numpy" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet -r "$(dirname "$0")/requirements.txt" >&2
fi
echo "$venv/bin/python"
