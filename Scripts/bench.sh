#!/usr/bin/env bash
# Forward-pass benchmark: `bertcheck bench` against PyTorch (transformers' BertModel from the
# reference venv, default attention) on a bert-base-shaped checkpoint with random weights written
# by numpy. Both run the same fixed ids with the same thread count, interleaved (the order
# alternates every round) so a busy machine hits both alike. Prints every round, the median
# tokens/s ratios and the peak RSS of each process (/usr/bin/time). Figures go into
# Docs/performance.md ("## forward pass").
#
#   Scripts/bench.sh                 # 3 rounds, 2 threads, 5 timed passes of 8 × 128 per run
#   ROUNDS=5 THREADS=1 Scripts/bench.sh
#
# Every run times the same number of tokens: ITERATIONS passes at 8 × 128, eight times as many at
# 1 × 128 (5 passes of one sequence last under a second, and one busy moment of the machine then
# decides the round).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
iterations=${ITERATIONS:-5}
python=$(Scripts/reference-venv.sh)
model="${BERTCHECK_BENCH_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/bertcheck/bench-bert-base}"
if [[ ! -f $model/model.safetensors ]]; then
  echo "writing the bert-base-shaped random checkpoint to $model" >&2
  "$python" Scripts/bench_torch.py --write-model "$model"
fi
bin="$(Scripts/release-bin.sh)"
results=$(mktemp)
trap 'rm -f "$results"' EXIT

# run NAME BATCH SEQ COMMAND...: appends "NAME BATCH SEQ tokens_per_second peak_rss_kb" to $results.
run() {
  local name=$1 batch=$2 seq=$3; shift 3
  local log; log=$(mktemp)
  /usr/bin/time -f "PEAK_RSS_KB %M" "$@" >"$log.out" 2>"$log.err" || { cat "$log.err" >&2; exit 1; }
  local tps rss
  tps=$(grep -o '"tokens_per_second": [0-9.]*' "$log.out" | awk '{print $2}')
  rss=$(grep PEAK_RSS_KB "$log.err" | awk '{print $2}')
  echo "$name $batch $seq $tps $rss" | tee -a "$results"
  rm -f "$log" "$log.out" "$log.err"
}

for ((round = 1; round <= rounds; round++)); do
  for shape in "8 128" "1 128"; do
    read -r batch seq <<<"$shape"
    passes=$((iterations * 8 / batch))
    ours=("$bin" bench "$model" --batch "$batch" --seq "$seq" --threads "$threads" --iterations "$passes" --json)
    theirs=("$python" Scripts/bench_torch.py "$model" --batch "$batch" --seq "$seq" --threads "$threads" --iterations "$passes")
    if ((round % 2)); then
      run bertcheck "$batch" "$seq" "${ours[@]}"
      run pytorch "$batch" "$seq" "${theirs[@]}"
    else
      run pytorch "$batch" "$seq" "${theirs[@]}"
      run bertcheck "$batch" "$seq" "${ours[@]}"
    fi
  done
done

python3 - "$results" "$threads" "$rounds" "$iterations" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
threads, rounds, iterations = sys.argv[2], sys.argv[3], sys.argv[4]
print(f"\n{rounds} interleaved rounds, {threads} threads, {iterations} timed passes of 8 × 128 per run, "
      f"{int(iterations) * 8} of 1 × 128 (median over rounds)")
print("| batch × seq | bertcheck tokens/s | PyTorch tokens/s | speed ratio | bertcheck peak RSS | PyTorch peak RSS | RSS ratio |")
print("|---|---|---|---|---|---|---|")
for shape in (("8", "128"), ("1", "128")):
    ours = [r for r in rows if r[0] == "bertcheck" and (r[1], r[2]) == shape]
    theirs = [r for r in rows if r[0] == "pytorch" and (r[1], r[2]) == shape]
    ratios = [float(a[3]) / float(b[3]) for a, b in zip(ours, theirs)]
    tps_o = statistics.median(float(r[3]) for r in ours)
    tps_t = statistics.median(float(r[3]) for r in theirs)
    rss_o = statistics.median(int(r[4]) for r in ours) / 1024
    rss_t = statistics.median(int(r[4]) for r in theirs) / 1024
    print(f"| {shape[0]} × {shape[1]} | {tps_o:.1f} | {tps_t:.1f} | {statistics.median(ratios):.2f}× "
          f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}) | {rss_o:.0f} MB | {rss_t:.0f} MB | {rss_o / rss_t:.2f}× |")
PY
