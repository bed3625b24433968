#!/usr/bin/env bash
# Makes the committed outputs of other runtimes (goldens/runtimes/, re-runnable) for the tiny model
# goldens/models/tiny-bert (3 layers, hidden 32) on its transformers golden
# goldens/tiny-bert.golden.safetensors, each with the real converter and the real runtime, through
# Scripts/dump_outputs.py exactly as Docs/ci-gating.md gates a conversion:
#
#   tiny-bert.onnxruntime-fp32.safetensors              Scripts/export_onnx.py --hidden-states → ONNX Runtime
#   tiny-bert.onnxruntime-fp16.safetensors              the same export --fp16 (float16 weights, fp32 I/O)
#   tiny-bert.onnxruntime-int8-per-tensor.safetensors   --quantize per-tensor (quantize_dynamic defaults)
#   tiny-bert.onnxruntime-int8-per-channel.safetensors  --quantize per-channel
#   tiny-bert.onnxruntime-scaled-layer1.safetensors     --scale encoder.layer.1.output.dense.weight=1.02
#   tiny-bert.openvino-fp32.safetensors                 the fp32 export read by OpenVINO, f32 inference precision
#   tiny-bert.ctranslate2-fp32.npz                      Scripts/convert_ctranslate2.py → CTranslate2 float32
#   tiny-bert.llama-cpp-q8_0.safetensors                convert_hf_to_gguf.py --outtype q8_0 → llama.cpp
#
# and, for the int8 profile on a real model, all-MiniLM-L6-v2 (Scripts/fetch-model.sh) on
# goldens/all-MiniLM-L6-v2.golden.safetensors, last_hidden_state and pooler_output only (~165 KB each):
#
#   all-MiniLM-L6-v2.onnxruntime-int8-per-tensor.safetensors    Scripts/export_onnx.py --quantize per-tensor
#   all-MiniLM-L6-v2.onnxruntime-int8-per-channel.safetensors   --quantize per-channel
#
# The runtimes are pinned in Scripts/requirements-runtimes.txt (Scripts/reference-venv.sh --runtimes);
# convert_hf_to_gguf.py comes from the llama-cpp-python sdist, as in Scripts/make_gguf_fixtures.sh.
# Usage: Scripts/make_runtime_dumps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(Scripts/reference-venv.sh --runtimes)"
llama="$(Scripts/llama-cpp-source.sh "$python")"

model=goldens/models/tiny-bert
golden=goldens/tiny-bert.golden.safetensors
out=goldens/runtimes
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$out" && rm -f "$out"/tiny-bert.* "$out"/all-MiniLM-L6-v2.*  # README.md stays
# One thread: the same sums in the same order on every machine.
dump() { "$python" Scripts/dump_outputs.py --threads 1 --golden "$golden" "$@" 2>&1 | grep -v -E "^(llama|load|print_info|\.)" ; }

"$python" Scripts/export_onnx.py "$model" "$scratch/fp32.onnx" --hidden-states
dump --runtime onnxruntime --model "$scratch/fp32.onnx" --out "$out/tiny-bert.onnxruntime-fp32.safetensors"
"$python" Scripts/export_onnx.py "$model" "$scratch/fp16.onnx" --hidden-states --fp16
dump --runtime onnxruntime --model "$scratch/fp16.onnx" --out "$out/tiny-bert.onnxruntime-fp16.safetensors"
for mode in per-tensor per-channel; do
  "$python" Scripts/export_onnx.py "$model" "$scratch/int8-$mode.onnx" --hidden-states --quantize "$mode"
  dump --runtime onnxruntime --model "$scratch/int8-$mode.onnx" --out "$out/tiny-bert.onnxruntime-int8-$mode.safetensors"
done
"$python" Scripts/export_onnx.py "$model" "$scratch/scaled.onnx" --hidden-states --scale encoder.layer.1.output.dense.weight=1.02
dump --runtime onnxruntime --model "$scratch/scaled.onnx" --out "$out/tiny-bert.onnxruntime-scaled-layer1.safetensors"
dump --runtime openvino --model "$scratch/fp32.onnx" --out "$out/tiny-bert.openvino-fp32.safetensors"

"$python" Scripts/convert_ctranslate2.py --model "$model" --output_dir "$scratch/ct2" >/dev/null
dump --runtime ctranslate2 --model "$scratch/ct2" --out "$out/tiny-bert.ctranslate2-fp32.npz"

# The tiny model has vocab.txt only; llama.cpp's converter reads the special tokens' ids ([CLS] as
# BOS, [SEP]) from tokenizer.json, so a copy gets the one transformers' BertTokenizerFast writes.
cp -r "$model" "$scratch/with-tokenizer-json"
"$python" -c 'import sys, transformers; transformers.AutoTokenizer.from_pretrained(sys.argv[1]).save_pretrained(sys.argv[1])' "$scratch/with-tokenizer-json"
PYTHONPATH="$llama/gguf-py" "$python" Scripts/convert_hf_to_gguf_tiny.py "$llama" "$scratch/with-tokenizer-json" --outtype q8_0 \
  --outfile "$scratch/q8_0.gguf" 2>&1 | grep -E "^(ERROR|Traceback)" >&2 || true
test -s "$scratch/q8_0.gguf"
dump --runtime llama-cpp --model "$scratch/q8_0.gguf" --out "$out/tiny-bert.llama-cpp-q8_0.safetensors"

minilm="$(Scripts/fetch-model.sh)"
golden=goldens/all-MiniLM-L6-v2.golden.safetensors
for mode in per-tensor per-channel; do
  "$python" Scripts/export_onnx.py "$minilm" "$scratch/minilm-int8-$mode.onnx" --quantize "$mode"
  dump --runtime onnxruntime --model "$scratch/minilm-int8-$mode.onnx" --out "$out/all-MiniLM-L6-v2.onnxruntime-int8-$mode.safetensors"
done

chmod 644 "$out"/*
ls -l "$out"
du -cb "$out"/tiny-bert.* "$out"/all-MiniLM-L6-v2.* | tail -1
