#!/usr/bin/env bash
# Forward-pass benchmark: `bertcheck bench` against ONNX Runtime (the graph torch.onnx.export
# writes, "plain", and the same after onnxruntime.transformers.optimizer, "optimized") and
# PyTorch (transformers' BertModel, default attention), all from the reference venv, on
# all-MiniLM-L6-v2 (Scripts/fetch-model.sh; BERTCHECK_BENCH_MODEL for another checkpoint). Every
# runner times the same padded batch (ids (t·7919 + 1000) mod vocab, padding id 0 and mask 0)
# with the same thread count; tokens/s count real tokens only. Paired rounds: each round runs
# every runner on every batch, the order rotating from round to round, so a busy machine hits
# all alike; the summary gives per-round ratios against ORT's best graph of the same round and
# their median, and the peak RSS of each process (/usr/bin/time). Figures go into
# Docs/performance.md ("## forward pass against ONNX Runtime and PyTorch").
#
#   Scripts/bench.sh                      # 3 rounds, 2 threads
#   ROUNDS=5 THREADS=1 ITERATIONS=8 Scripts/bench.sh
#   BATCHES="1x128 126,5,5,5,5,5,5,5" Scripts/bench.sh
#   BERTCHECK_BIN=/tmp/bertcheck Scripts/bench.sh   # a binary built before, instead of building one
#
# Batches: BxS (dense), L1,L2,… (real lengths, padded to the longest) or "goldens" (the texts
# of goldens/texts/*.json tokenized by the model's vocabulary, one row each). Every run times
# about ITERATIONS × 1024 padded positions (at least 2 passes) after one warm-up pass.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
iterations=${ITERATIONS:-5}
batches=${BATCHES:-8x128 1x128 1x512 126,5,5,5,5,5,5,5 goldens}
python=$(Scripts/reference-venv.sh)
if ! "$python" -c "import onnxruntime, onnx" 2>/dev/null; then
  echo "bench.sh: the reference venv lacks onnxruntime and onnx: run Scripts/reference-venv.sh --converters" >&2
  exit 2
fi
model="${BERTCHECK_BENCH_MODEL:-$(Scripts/fetch-model.sh)}"
graphs="${XDG_CACHE_HOME:-$HOME/.cache}/bertcheck/bench-onnx/$(basename "$model")"
if [[ ! -f $graphs/optimized.onnx || $graphs/optimized.onnx -ot $model/model.safetensors ]]; then
  echo "exporting $model to ONNX in $graphs" >&2
  "$python" Scripts/bench_ort.py --export "$model" "$graphs" >&2
fi
vocab=$("$python" -c "import json, sys; print(json.load(open(sys.argv[1]))['vocab_size'])" "$model/config.json")
bin="${BERTCHECK_BIN:-$(Scripts/release-bin.sh)}"
results=$(mktemp)
trap 'rm -f "$results"' EXIT

# The golden texts' lengths: each text (or [text, pair]) tokenized by the model's vocabulary.
golden_lengths() {
  python3 - "$bin" "$model" goldens/texts/*.json <<'PY'
import json, subprocess, sys
binary, model, files = sys.argv[1], sys.argv[2], sys.argv[3:]
lengths = []
for path in files:
    for item in json.load(open(path)):
        text, pair = (item, None) if isinstance(item, str) else (item[0], item[1])
        command = [binary, "tokenize", model, text, "--json"] + (["--pair", pair] if pair else [])
        lengths.append(len(json.loads(subprocess.check_output(command))["input_ids"]))
print(",".join(map(str, lengths)))
PY
}

# The runners' arguments for batch $1: "--batch B --seq S" or "--lengths L1,…", and the
# padded positions it holds.
shape_args() {
  case $1 in
    *x*) echo "--batch ${1%x*} --seq ${1#*x}" ;;
    *) echo "--lengths $1" ;;
  esac
}
padded_positions() {
  case $1 in
    *x*) echo $(( ${1%x*} * ${1#*x} )) ;;
    *) python3 -c "import sys; l = [int(x) for x in sys.argv[1].split(',')]; print(len(l) * max(l))" "$1" ;;
  esac
}

# run RUNNER LABEL ROUND COMMAND...: appends "RUNNER LABEL ROUND tokens_per_second peak_rss_kb".
run() {
  local runner=$1 label=$2 round=$3; shift 3
  local log; log=$(mktemp)
  /usr/bin/time -f "PEAK_RSS_KB %M" "$@" >"$log.out" 2>"$log.err" || { cat "$log.err" >&2; exit 1; }
  local tps rss
  tps=$(grep -o '"tokens_per_second": [0-9.]*' "$log.out" | awk '{print $2}')
  rss=$(grep PEAK_RSS_KB "$log.err" | awk '{print $2}')
  echo "$runner $label $round $tps $rss" | tee -a "$results"
  rm -f "$log" "$log.out" "$log.err"
}

resolved=()
for b in $batches; do
  if [[ $b == goldens ]]; then resolved+=("$(golden_lengths)"); else resolved+=("$b"); fi
done
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results.load"
runners=(bertcheck ort-optimized ort-plain pytorch)
for ((round = 1; round <= rounds; round++)); do
  for b in "${resolved[@]}"; do
    read -r -a shape <<<"$(shape_args "$b")"
    passes=$(( iterations * 1024 / $(padded_positions "$b") ))
    (( passes < 2 )) && passes=2
    for ((i = 0; i < ${#runners[@]}; i++)); do
      runner=${runners[(i + round - 1) % ${#runners[@]}]}
      common=("${shape[@]}" --threads "$threads" --iterations "$passes")
      case $runner in
        bertcheck) run "$runner" "$b" "$round" "$bin" bench "$model" "${common[@]}" --json ;;
        ort-optimized) run "$runner" "$b" "$round" "$python" Scripts/bench_ort.py "$graphs/optimized.onnx" --vocab "$vocab" "${common[@]}" ;;
        ort-plain) run "$runner" "$b" "$round" "$python" Scripts/bench_ort.py "$graphs/plain.onnx" --vocab "$vocab" "${common[@]}" ;;
        pytorch) run "$runner" "$b" "$round" "$python" Scripts/bench_torch.py "$model" "${common[@]}" ;;
      esac
    done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results.load"

python3 - "$results" "$threads" "$rounds" "$iterations" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$results.load" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
threads, rounds, iterations, when = sys.argv[2:6]
load = " / ".join(line.split(": ")[1].strip() for line in open(sys.argv[6]))
print(f"\n{when}, load average {load} (start / end); {rounds} paired rounds, {threads} threads, "
      f"about {iterations} × 1024 padded positions timed per run; tokens/s over real tokens (median over rounds)")
print("| batch | bertcheck | ORT optimized | ORT plain | PyTorch | bertcheck / ORT's best (rounds) | bertcheck / PyTorch | peak RSS bertcheck / PyTorch |")
print("|---|---|---|---|---|---|---|---|")
labels = list(dict.fromkeys(r[1] for r in rows))
for label in labels:
    by = {name: {r[2]: r for r in rows if r[0] == name and r[1] == label}
          for name in ("bertcheck", "ort-optimized", "ort-plain", "pytorch")}
    paired = [k for k in by["bertcheck"] if all(k in by[n] for n in by)]
    tps = lambda n, k: float(by[n][k][3])
    best = [tps("bertcheck", k) / max(tps("ort-optimized", k), tps("ort-plain", k)) for k in paired]
    torch = [tps("bertcheck", k) / tps("pytorch", k) for k in paired]
    med = {n: statistics.median(tps(n, k) for k in paired) for n in by}
    rss = {n: statistics.median(int(by[n][k][4]) for k in paired) / 1024 for n in by}
    shown = label if "x" in label else f"lengths {label}"
    print(f"| {shown} | {med['bertcheck']:.0f} | {med['ort-optimized']:.0f} | {med['ort-plain']:.0f} | {med['pytorch']:.0f} "
          f"| **{statistics.median(best):.2f}×** ({', '.join(f'{x:.2f}' for x in best)}) | {statistics.median(torch):.2f}× "
          f"| {rss['bertcheck']:.0f} / {rss['pytorch']:.0f} MB = {rss['bertcheck'] / rss['pytorch']:.2f}× |")
PY
rm -f "$results.load"
