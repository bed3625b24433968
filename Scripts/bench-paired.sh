#!/usr/bin/env bash
# Forward-pass speed of two bertcheck binaries, paired: Scripts/bench-paired.sh OLD_BIN NEW_BIN [MODEL]
# Both run `bertcheck bench --json` on the same bert-base-shaped checkpoint (`Scripts/bench_torch.py
# --write-model DIR` writes it; MODEL defaults to ~/.cache/bertcheck/bench-bert-base), interleaved with the order alternating every round,
# so a busy machine slows both alike. Prints every run and, per shape, the median of the
# per-round ratios NEW / OLD of tokens/s, and of the CPU time (user + sys, whole process: loading,
# one warm-up pass and the timed ones) OLD / NEW, which a crowded machine disturbs less than the
# wall time (above 1: NEW is faster). Use it to check that a change keeps the release build as
# fast (e.g. OLD built from main, NEW from the branch; Docs/performance.md).
#
#   ROUNDS=7 THREADS=2 ITERATIONS=3 Scripts/bench-paired.sh /tmp/old/bertcheck .build/release/bertcheck
#
# ITERATIONS passes at 8 × 128 per run, eight times as many at 1 × 128 (the same tokens).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 2 ]]; then
  echo "usage: Scripts/bench-paired.sh OLD_BIN NEW_BIN [MODEL]" >&2
  exit 2
fi
old=$1 new=$2
model=${3:-${BERTCHECK_BENCH_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/bertcheck/bench-bert-base}}
rounds=${ROUNDS:-5}
threads=${THREADS:-2}
iterations=${ITERATIONS:-3}
if [[ ! -f $model/model.safetensors ]]; then
  echo "bench-paired.sh: no checkpoint at $model (Scripts/bench_torch.py --write-model DIR writes one)" >&2
  exit 2
fi
results=$(mktemp)
trap 'rm -f "$results"' EXIT

# run NAME BIN BATCH SEQ ROUND: appends "NAME BATCH SEQ ROUND tokens_per_second cpu_seconds" to $results.
run() {
  local name=$1 bin=$2 batch=$3 seq=$4 round=$5
  local passes=$((iterations * 8 / batch)) out tps cpu
  out=$(/usr/bin/time -f "CPU_SECONDS %U %S" "$bin" bench "$model" --batch "$batch" --seq "$seq" --threads "$threads" \
    --iterations "$passes" --json 2>&1)
  tps=$(grep -o '"tokens_per_second": [0-9.]*' <<<"$out" | awk '{print $2}')
  cpu=$(grep CPU_SECONDS <<<"$out" | awk '{print $2 + $3}')
  echo "$name $batch $seq $round $tps $cpu" | tee -a "$results"
}

for ((round = 1; round <= rounds; round++)); do
  for shape in "8 128" "1 128"; do
    read -r batch seq <<<"$shape"
    if ((round % 2)); then
      run old "$old" "$batch" "$seq" "$round"
      run new "$new" "$batch" "$seq" "$round"
    else
      run new "$new" "$batch" "$seq" "$round"
      run old "$old" "$batch" "$seq" "$round"
    fi
  done
done

python3 - "$results" "$rounds" "$threads" "$iterations" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
rounds, threads, iterations = sys.argv[2:5]
print(f"\n{rounds} interleaved rounds, {threads} threads, {iterations} timed passes of 8 × 128 per run, "
      f"{int(iterations) * 8} of 1 × 128")
print("| batch × seq | old tokens/s | new tokens/s | tokens/s new / old (rounds) | CPU s old / new (rounds) |")
print("|---|---|---|---|---|")
for batch, seq in (("8", "128"), ("1", "128")):
    runs = {name: {r[3]: r for r in rows if r[0] == name and (r[1], r[2]) == (batch, seq)} for name in ("old", "new")}
    paired = [k for k in sorted(runs["old"], key=int) if k in runs["new"]]
    speed = [float(runs["new"][k][4]) / float(runs["old"][k][4]) for k in paired]
    cpu = [float(runs["old"][k][5]) / float(runs["new"][k][5]) for k in paired]
    old_tps = statistics.median(float(runs["old"][k][4]) for k in paired)
    new_tps = statistics.median(float(runs["new"][k][4]) for k in paired)
    print(f"| {batch} × {seq} | {old_tps:.1f} | {new_tps:.1f} | **{statistics.median(speed):.3f}** "
          f"({', '.join(f'{x:.2f}' for x in speed)}) | **{statistics.median(cpu):.3f}** ({', '.join(f'{x:.2f}' for x in cpu)}) |")
PY
