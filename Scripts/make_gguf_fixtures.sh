#!/usr/bin/env bash
# Makes the GGUF test material with llama.cpp's real tools (re-runnable; same files each run):
#
#   goldens/checkpoints/tiny-bert-h256/, tiny-bert-cls/   Scripts/make_converter_checkpoints.py
#   goldens/tiny-bert-h256.golden.safetensors             Scripts/record_goldens.py, goldens/texts/tiny.json
#   goldens/gguf/tiny-h256-TYPE.gguf                      F32 F16 BF16 Q8_0 by convert_hf_to_gguf.py
#                                                         --outtype; Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K
#                                                         Q5_K Q6_K by llama_model_quantize (pure) from
#                                                         the F32 file; Q4_K_M: llama.cpp's usual mix
#   goldens/gguf/tiny-cls-F32.gguf                        the classifier checkpoint, F32
#   goldens/gguf/split/tiny-cls-F32-0000N-of-00003.gguf   the same, split by --split-max-tensors 16
#   goldens/gguf/*.dequant.safetensors, *.json            what gguf-py reads in each (Scripts/gguf_reference.py)
#   ~/.cache/bertcheck/gguf/all-MiniLM-L6-v2-{F32,F16,Q8_0,Q4_K_M}.gguf (+ .json listings)   not committed
#
# convert_hf_to_gguf.py and its gguf-py come from the llama-cpp-python 0.3.36 sdist (downloaded and
# unpacked once into ~/.cache/bertcheck); the quantizer from the same version built by pip
# (Scripts/reference-venv.sh --converters). Usage: Scripts/make_gguf_fixtures.sh [--no-minilm]
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(Scripts/reference-venv.sh --converters)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/bertcheck"
llama="$(Scripts/llama-cpp-source.sh "$python")"
# The reference reads with the gguf-py that wrote the files (the sdist's, newer than PyPI's 0.19.0).
export PYTHONPATH="$llama/gguf-py"
convert() { "$python" Scripts/convert_hf_to_gguf_tiny.py "$llama" "$1" --outtype "$2" --outfile "$3" 2>&1 | grep -E "^(ERROR|Traceback)|tiny:|successfully" >&2 || true; test -s "$3"; }
quantize() { "$python" Scripts/gguf_quantize.py "$@" >/dev/null 2>&1 || "$python" Scripts/gguf_quantize.py "$@"; }

"$python" Scripts/make_converter_checkpoints.py goldens/checkpoints
"$python" Scripts/record_goldens.py goldens/checkpoints/tiny-bert-h256 goldens/texts/tiny.json goldens/tiny-bert-h256.golden.safetensors

out=goldens/gguf
mkdir -p "$out" && rm -rf "$out"/*.gguf "$out"/*.json "$out"/*.dequant.safetensors "$out/split"  # README.md stays
for type in F32 F16 BF16 Q8_0; do
  convert goldens/checkpoints/tiny-bert-h256 "$(tr '[:upper:]' '[:lower:]' <<<"$type")" "$out/tiny-h256-$type.gguf"
done
# ftype -> the single type `pure` gives every quantized tensor.
for pair in Q4_0:Q4_0 Q4_1:Q4_1 Q5_0:Q5_0 Q5_1:Q5_1 Q2_K:Q2_K Q3_K_M:Q3_K Q4_K_M:Q4_K Q5_K_M:Q5_K Q6_K:Q6_K; do
  quantize "$out/tiny-h256-F32.gguf" "$out/tiny-h256-${pair#*:}.gguf" "${pair%%:*}" --pure
done
quantize "$out/tiny-h256-F32.gguf" "$out/tiny-h256-Q4_K_M.gguf" Q4_K_M
convert goldens/checkpoints/tiny-bert-cls f32 "$out/tiny-cls-F32.gguf"
# The same classifier as a split checkpoint: 3 files of at most 16 tensors, -0000N-of-00003.gguf.
mkdir -p "$out/split"
"$python" Scripts/convert_hf_to_gguf_tiny.py "$llama" goldens/checkpoints/tiny-bert-cls --outtype f32 --split-max-tensors 16 \
  --outfile "$out/split/tiny-cls-F32.gguf" 2>&1 | grep -E "^(ERROR|Traceback)" >&2 || true
test -s "$out/split/tiny-cls-F32-00003-of-00003.gguf"
"$python" Scripts/gguf_reference.py "$out"/*.gguf "$out"/split/*.gguf

if [[ "${1:-}" != "--no-minilm" ]]; then
  minilm="$(Scripts/fetch-model.sh)"
  big="$cache/gguf"
  mkdir -p "$big"
  for type in F32 F16 Q8_0; do
    convert "$minilm" "$(tr '[:upper:]' '[:lower:]' <<<"$type")" "$big/all-MiniLM-L6-v2-$type.gguf"
  done
  quantize "$big/all-MiniLM-L6-v2-F32.gguf" "$big/all-MiniLM-L6-v2-Q4_K_M.gguf" Q4_K_M
  "$python" Scripts/gguf_reference.py "$big"/all-MiniLM-L6-v2-*.gguf
  ls -l "$big"/*.gguf
fi
ls -l "$out"
du -cb "$out" goldens/checkpoints/tiny-bert-h256 goldens/checkpoints/tiny-bert-cls goldens/tiny-bert-h256.golden.safetensors | tail -1
