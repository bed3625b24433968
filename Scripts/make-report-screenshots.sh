#!/usr/bin/env bash
# The screenshots of Docs/ci-gating.md ("Reports people look at"), on a bert-base-shaped model:
# 12 layers, hidden 768, random weights written by numpy (Scripts/bench_torch.py --write-model,
# the benchmark's checkpoint; bert-base-uncased's vocabulary from all-MiniLM-L6-v2 beside it).
# Nothing large is committed: the model (440 MB), its copies and the golden stay in the cache.
#
#   1. a golden recorded by bertcheck itself (`record --hidden-states`) from goldens/texts/minilm.json
#   2. failing gate: encoder layer 5's weight matrices × 1.02 (Scripts/edit_checkpoint.py)
#   3. passing fp16 gate: the model stored in fp16, gated with its fp16 profile
#   4. drift-only gate: the same fp16 model under --profile fp32 (every layer a little worse)
#   5. diff of the model and its layer-5 copy
#
# Each HTML page is shot in headless Chromium, checked by Scripts/check_report_png.py and cut to
# its content into Docs/img/report-*.png; the Markdown summaries go beside the pages in $work.
#
#   Scripts/make-report-screenshots.sh            # work dir: ~/.cache/bertcheck/report-material
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${XDG_CACHE_HOME:-$HOME/.cache}/bertcheck
work=${WORK:-$cache/report-material}
model=$work/bert-base
mkdir -p "$work" Docs/img
if [[ ! -f $model/model.safetensors ]]; then
  python=$(Scripts/reference-venv.sh)
  "$python" Scripts/bench_torch.py --write-model "$model"
fi
minilm=$(Scripts/fetch-model.sh)
cp "$minilm/vocab.txt" "$minilm/tokenizer_config.json" "$model/"
command -v chromium >/dev/null 2>&1 || { echo "make-report-screenshots.sh: needs chromium (apt-get install chromium)" >&2; exit 2; }
swift build --product bertcheck >&2
bin="$(swift build --show-bin-path)/bertcheck"

golden=$work/bert-base.golden.safetensors
[[ -f $golden ]] || "$bin" record "$model" --texts-file goldens/texts/minilm.json --hidden-states --out "$golden"
[[ -f $work/layer5/model.safetensors ]] || python3 Scripts/edit_checkpoint.py "$model" "$work/layer5" --scale-layer 5 --factor 1.02
[[ -f $work/fp16/model.safetensors ]] || python3 Scripts/edit_checkpoint.py "$model" "$work/fp16" --fp16

# run EXPECTED_EXIT NAME ARGS...: one report, its exit code checked.
run() {
  local expected=$1 name=$2; shift 2
  local code=0
  "$bin" "$@" >"$work/$name.txt" || code=$?
  if [[ $code -ne $expected ]]; then
    echo "make-report-screenshots.sh: $name exited $code, expected $expected" >&2
    cat "$work/$name.txt" >&2
    exit 1
  fi
  tail -n 2 "$work/$name.txt"
}
run 1 fail verify --golden "$golden" --model "$work/layer5" --html "$work/fail.html" --markdown "$work/fail.md"
run 0 fp16 verify --golden "$golden" --model "$work/fp16" --html "$work/fp16.html" --markdown "$work/fp16.md"
run 1 drift verify --golden "$golden" --model "$work/fp16" --profile fp32 --html "$work/drift.html" --markdown "$work/drift.md"
run 1 diff diff "$model" "$work/layer5" --html "$work/diff.html"
ls -l "$work"/*.html

for name in fail fp16 drift diff; do
  marker=no
  [[ $name == fail || $name == diff ]] && marker=yes
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
    --window-size=1100,2600 --screenshot="$work/$name.png" "file://$work/$name.html" >/dev/null 2>&1
  python3 Scripts/check_report_png.py "$work/$name.png" --marker "$marker" --crop "Docs/img/report-$name.png"
done
ls -l Docs/img/report-*.png
