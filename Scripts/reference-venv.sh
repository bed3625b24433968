#!/usr/bin/env bash
# Creates (once) the venv holding the reference implementation (transformers + torch, pinned in
# Scripts/requirements.txt) outside the repository, and prints its python. Only Scripts/ use it.
# With --converters it also installs Scripts/requirements-converters.txt: gguf, onnx, onnxruntime,
# onnxscript, sentence-transformers and llama-cpp-python (built with cmake: apt-get install cmake
# build-essential), which Scripts/make_gguf_fixtures.sh and Scripts/make_onnx_fixtures.py need.
# With --runtimes it installs those and Scripts/requirements-runtimes.txt (OpenVINO, CTranslate2),
# which Scripts/dump_outputs.py and Scripts/make_runtime_dumps.sh need.
set -euo pipefail
venv="${BERTCHECK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/bertcheck/venv}"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import torch, transformers, safetensors, numpy" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet -r "$(dirname "$0")/requirements.txt" >&2
fi
if [[ "${1:-}" == "--converters" || "${1:-}" == "--runtimes" ]] && ! "$venv/bin/python" -c "import gguf, onnx, onnxruntime, onnxscript, sentence_transformers, llama_cpp" 2>/dev/null; then
  # Only what llama.cpp's quantizer needs: no llava/mtmd, tests, examples, tools or server.
  CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF}" \
    "$venv/bin/pip" install --quiet -r "$(dirname "$0")/requirements-converters.txt" >&2
fi
if [[ "${1:-}" == "--runtimes" ]] && ! "$venv/bin/python" -c "import openvino, ctranslate2" 2>/dev/null; then
  "$venv/bin/pip" install --quiet -r "$(dirname "$0")/requirements-runtimes.txt" >&2
fi
echo "$venv/bin/python"
