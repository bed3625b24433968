#!/usr/bin/env bash
# Renders bertcheck's HTML reports in a real browser (headless Chromium, Debian's `chromium`,
# installed when missing) and checks the plot is drawn: the plot's frame found in the PNG,
# non-background pixels and the error line inside it, the first-divergence marker present
# exactly when the gate names one. Every page is shot in a wide (1200 px) and a narrow (420 px)
# window, and the failing one is also printed to PDF.
#
# Material (the committed tiny BERT, edited by Scripts/edit_checkpoint.py, standard library
# only): one layer's weights × 1.02 (a failing gate and its first divergence), the model stored
# in fp16 (passes its fp16 profile; fails fp32 as precision drift), and `diff` of the two models.
#
#   Scripts/check-report-browser.sh            # .ci/run runs this after Scripts/test.sh
#   KEEP=/tmp/reports Scripts/check-report-browser.sh   # keep the pages and screenshots
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "check-report-browser.sh: installing chromium" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
swift build -Xcc -O3 --product bertcheck >&2   # the flags of Scripts/test.sh: no rebuild
bin="$(swift build -Xcc -O3 --show-bin-path)/bertcheck"

work=${KEEP:-$(mktemp -d)}
mkdir -p "$work"
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$work"' EXIT
model=goldens/models/tiny-bert
golden=goldens/tiny-bert.golden.safetensors
python3 Scripts/edit_checkpoint.py "$model" "$work/layer1" --scale-layer 1 --factor 1.02
python3 Scripts/edit_checkpoint.py "$model" "$work/fp16" --fp16

failures=0
# expect CODE COMMAND...: runs bertcheck, which must exit with CODE.
expect() {
  local code=$1; shift
  local got=0
  "$bin" "$@" >"$work/last.out" 2>&1 || got=$?
  if [[ $got -ne $code ]]; then
    echo "FAIL: bertcheck $* exited $got, expected $code" >&2
    cat "$work/last.out" >&2
    failures=$((failures + 1))
  fi
}
expect 1 verify --golden "$golden" --model "$work/layer1" --html "$work/fail.html" --markdown "$work/fail.md"
expect 0 verify --golden "$golden" --model "$work/fp16" --html "$work/fp16.html" --markdown "$work/fp16.md"
expect 1 verify --golden "$golden" --model "$work/fp16" --profile fp32 --html "$work/drift.html" --markdown "$work/drift.md"
expect 1 diff "$model" "$work/layer1" --html "$work/diff.html"

# contains FILE TEXT: the page or summary says TEXT.
contains() {
  if ! grep -qF -- "$2" "$1"; then
    echo "FAIL: $1 does not say '$2'" >&2
    failures=$((failures + 1))
  fi
}
contains "$work/fail.html" "FAIL at encoder layer 1 (hidden_states.2)"
contains "$work/fail.md" "FAIL at encoder layer 1 (hidden\\_states.2)"
contains "$work/fail.md" "xychart-beta"
contains "$work/fp16.html" "PASS: all 8 checks passed"
contains "$work/drift.html" "FAIL: precision drift, no single layer"
contains "$work/drift.md" "precision drift, no single layer"
contains "$work/diff.html" "first at layer 1"

# shot PAGE WIDTH MARKER: screenshot in a WIDTH px window, then the pixel checks.
shot() {
  local page=$1 width=$2 marker=$3
  local png="${page%.html}-$width.png"
  rm -f "$png"
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
    --window-size="$width,1600" --screenshot="$png" "file://$(realpath "$page")" >/dev/null 2>&1 || true
  if [[ ! -s $png ]]; then
    echo "FAIL: chromium wrote no screenshot of $page" >&2
    failures=$((failures + 1))
    return
  fi
  python3 Scripts/check_report_png.py "$png" --marker "$marker" --max-width "$width" || failures=$((failures + 1))
}
for width in 1200 420; do
  shot "$work/fail.html" "$width" yes
  shot "$work/fp16.html" "$width" no
  shot "$work/drift.html" "$width" no
  shot "$work/diff.html" "$width" yes
done

pdf="$work/fail.pdf"
chromium --headless --no-sandbox --disable-gpu --no-pdf-header-footer --print-to-pdf="$pdf" "file://$(realpath "$work/fail.html")" >/dev/null 2>&1 || true
if [[ ! -s $pdf ]] || ! head -c 5 "$pdf" | grep -q '%PDF'; then
  echo "FAIL: chromium could not print $work/fail.html" >&2
  failures=$((failures + 1))
fi

if ((failures)); then
  echo "check-report-browser.sh: $failures checks failed" >&2
  exit 1
fi
echo "check-report-browser.sh: every report renders in Chromium with its plot drawn"
