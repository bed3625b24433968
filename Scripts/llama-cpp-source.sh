#!/usr/bin/env bash
# Prints the llama.cpp source tree vendored in the llama-cpp-python 0.3.36 sdist (its
# convert_hf_to_gguf.py and gguf-py), fetching and unpacking the sdist into ~/.cache/bertcheck
# once with the pip of the venv whose python is $1.
set -euo pipefail
python="$1"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/bertcheck"
version=0.3.36
llama="$cache/llama_cpp_python-$version/vendor/llama.cpp"
if [[ ! -f "$llama/convert_hf_to_gguf.py" ]]; then
  "$(dirname "$python")/pip" download --quiet --no-binary :all: --no-deps "llama-cpp-python==$version" -d "$cache" >&2
  tar -xzf "$cache/llama_cpp_python-$version.tar.gz" -C "$cache"
fi
echo "$llama"
