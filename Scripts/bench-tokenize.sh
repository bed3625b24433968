#!/usr/bin/env bash
# Tokenizer speed: lines/s of `bertcheck tokenize MODEL --file F` (JSON Lines out) against
# transformers' BertTokenizer on the same lines, each a whole process that reads the file and
# writes one JSON object per line; then a linearity check on adversarial lines (one 0.5 MB and
# one 1 MB word; 0.5 MB and 1 MB lines of punctuation): the 1 MB time over the 0.5 MB time should
# stay near 2. Prints Markdown for Docs/performance.md.
# Usage: Scripts/bench-tokenize.sh [REPEAT]   (REPEAT copies of the corpus lines; default 8)
set -euo pipefail
cd "$(dirname "$0")/.."
repeat="${1:-8}"
model="$(Scripts/fetch-model.sh)"
python="$(Scripts/reference-venv.sh)"
bin="$(Scripts/release-bin.sh)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" - "$work" "$repeat" <<'PY'
import json, sys
work, repeat = sys.argv[1], int(sys.argv[2])
texts = []
with open("goldens/tokenizer/corpus.jsonl", encoding="utf-8") as f:
    for line in f:
        case = json.loads(line)
        if case["config"] == "uncased" and "pair" not in case and "\n" not in case["text"]:
            texts.append(case["text"])
with open(f"{work}/lines.txt", "w", encoding="utf-8") as f:
    f.write("\n".join(texts * repeat) + "\n")
for size in (1 << 19, 1 << 20):
    with open(f"{work}/word-{size}.txt", "w") as f:
        f.write(("a" * size + "\n") * 16)
    with open(f"{work}/punct-{size}.txt", "w") as f:
        f.write(("!?.," * (size // 4) + "\n") * 16)
with open(f"{work}/empty.txt", "w") as f:
    pass
PY

cat > "$work/hf.py" <<'PY'
import json, sys
from transformers import BertTokenizer
from transformers.utils import logging
logging.set_verbosity_error()
model, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
tok = BertTokenizer.from_pretrained(model)
with open(path, encoding="utf-8", newline="") as f:  # split on \n only, as bertcheck does
    lines = f.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
out = sys.stdout
encodings = []
if not lines:
    pass  # start-up and loading only
elif mode == "batch":
    encodings = tok(lines, truncation=True)["input_ids"]
else:
    encodings = [tok(line, truncation=True)["input_ids"] for line in lines]
for ids in encodings:
    out.write(json.dumps({"input_ids": ids, "tokens": tok.convert_ids_to_tokens(ids), "token_type_ids": [0] * len(ids)}, ensure_ascii=False) + "\n")
PY

lines=$(wc -l < "$work/lines.txt")
bytes=$(wc -c < "$work/lines.txt")
# Same output, line for line, before timing anything.
"$bin" tokenize "$model" --file "$work/lines.txt" > "$work/ours.jsonl"
"$python" "$work/hf.py" "$model" "$work/lines.txt" batch > "$work/theirs.jsonl"
"$python" - "$work/ours.jsonl" "$work/theirs.jsonl" <<'PY'
import json, sys
a = [json.loads(l)["input_ids"] for l in open(sys.argv[1], encoding="utf-8")]
b = [json.loads(l)["input_ids"] for l in open(sys.argv[2], encoding="utf-8")]
assert len(a) == len(b), (len(a), len(b))
bad = sum(x != y for x, y in zip(a, b))
assert bad == 0, f"{bad} lines differ"
PY

# hyperfine runs each command; we report median wall time and mean CPU time (user + system), the
# figure that stays meaningful when other work shares the machine.
measure() { # name runs command...
  local name=$1 runs=$2; shift 2
  hyperfine --style none --warmup 1 --runs "$runs" --export-json "$work/$name.json" "$*" > /dev/null 2>&1
  "$python" -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.4f %.4f" % (r["median"], r["user"] + r["system"]))' "$work/$name.json"
}

read -r ours_wall ours_cpu <<< "$(measure ours 5 "$bin" tokenize "$model" --file "$work/lines.txt")"
read -r base_wall base_cpu <<< "$(measure base 5 "$bin" tokenize "$model" --file "$work/empty.txt")"
read -r batch_wall batch_cpu <<< "$(measure batch 3 "$python" "$work/hf.py" "$model" "$work/lines.txt" batch)"
read -r loop_wall loop_cpu <<< "$(measure loop 3 "$python" "$work/hf.py" "$model" "$work/lines.txt" loop)"
read -r hfbase_wall hfbase_cpu <<< "$(measure hfbase 3 "$python" "$work/hf.py" "$model" "$work/empty.txt" batch)"
rate() { echo "$lines / $1" | bc -l; }

echo "## tokenize"
echo
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average $(cut -d' ' -f1 /proc/loadavg), by \`Scripts/bench-tokenize.sh $repeat\`."
echo "Corpus: the single texts of goldens/tokenizer/corpus.jsonl (uncased), $repeat copies: $lines lines, $bytes bytes;"
echo "model: all-MiniLM-L6-v2. Every run is a whole process that loads the tokenizer, reads the file and writes"
echo "JSON Lines (input_ids, tokens, token_type_ids); the outputs were checked identical before timing."
echo "Wall = median wall time; CPU = mean user + system time (steadier when the machine is shared)."
echo
echo "| tokenizer | wall s | CPU s | lines/s (wall) | lines/s (CPU) | start-up + load, wall / CPU s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
printf '| bertcheck tokenize --file (release) | %.3f | %.3f | %.0f | %.0f | %.3f / %.3f |\n' "$ours_wall" "$ours_cpu" "$(rate "$ours_wall")" "$(rate "$ours_cpu")" "$base_wall" "$base_cpu"
printf '| transformers 5.24.0 BertTokenizer, one batch call | %.3f | %.3f | %.0f | %.0f | %.3f / %.3f |\n' "$batch_wall" "$batch_cpu" "$(rate "$batch_wall")" "$(rate "$batch_cpu")" "$hfbase_wall" "$hfbase_cpu"
printf '| transformers 5.24.0 BertTokenizer, one call per line | %.3f | %.3f | %.0f | %.0f | |\n' "$loop_wall" "$loop_cpu" "$(rate "$loop_wall")" "$(rate "$loop_cpu")"
printf '\nbertcheck / transformers, lines/s of the whole process: %.1fx the batch call and %.1fx the per-line loop (wall); %.1fx and %.1fx (CPU).\n' \
  "$(echo "$batch_wall / $ours_wall" | bc -l)" "$(echo "$loop_wall / $ours_wall" | bc -l)" \
  "$(echo "$batch_cpu / $ours_cpu" | bc -l)" "$(echo "$loop_cpu / $ours_cpu" | bc -l)"
printf 'Without start-up and loading (empty-file run subtracted, CPU): bertcheck %.0f lines/s, transformers batch %.0f lines/s.\n' \
  "$(rate "$(echo "$ours_cpu - $base_cpu" | bc -l)")" "$(rate "$(echo "$batch_cpu - $hfbase_cpu" | bc -l)")"
echo
echo "Linearity (bertcheck): 16 lines of 0.5 MB against 16 lines of 1 MB, CPU time with the empty-file run"
echo "subtracted; a ratio near 2 is linear (quadratic would be 4)."
echo
echo "| input line | 16 × 0.5 MB, CPU s | 16 × 1 MB, CPU s | ratio |"
echo "| --- | ---: | ---: | ---: |"
for kind in word punct; do
  read -r _ half <<< "$(measure "$kind-half" 3 "$bin" tokenize "$model" --file "$work/$kind-524288.txt")"
  read -r _ full <<< "$(measure "$kind-full" 3 "$bin" tokenize "$model" --file "$work/$kind-1048576.txt")"
  half=$(echo "$half - $base_cpu" | bc -l)
  full=$(echo "$full - $base_cpu" | bc -l)
  label=$([[ $kind == word ]] && echo "one word of 'a' (one [UNK])" || echo "'!?.,' repeated (a word per scalar)")
  printf '| %s | %.3f | %.3f | %.2f |\n' "$label" "$half" "$full" "$(echo "$full / $half" | bc -l)"
done
