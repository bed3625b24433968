#!/usr/bin/env bash
# Runs one libFuzzer target for a while: Scripts/fuzz.sh TARGET SECONDS [extra libFuzzer flags]
#   TARGET: safetensors | zip | pickle | tokenizer | golden | config | onnx | gguf   (or `list`)
#
# Each target is Tests/Fuzz/Fuzz<Target>.swift; all are compiled with the library sources into one
# binary by `swiftc -sanitize=fuzzer,address -parse-as-library` (SwiftPM is not involved, so
# `swift build` and `swift test` never see them). The binary and the growing corpus live in .build-fuzz/;
# seeds come from the test corpus (Tests/BertCheckTests/Fixtures/hostile/<target>/ and the small
# committed files of the same kind); crashes, timeouts and out-of-memory inputs go to
# fuzz-artifacts/<target>/ (git-ignored). Add each one to the test corpus once fixed.
set -euo pipefail

# Everything runs inside main, so bash has read the whole script before it starts (editing this
# file during a run must not change the run).
main() {
cd "$(dirname "$0")/.."
root=$PWD

targets=(safetensors zip pickle tokenizer golden config onnx gguf)
target=${1:-}
seconds=${2:-}
if [[ "$target" == list ]]; then printf '%s\n' "${targets[@]}"; exit 0; fi
if [[ -z "$target" || -z "$seconds" || ! " ${targets[*]} " =~ " $target " ]]; then
  echo "usage: Scripts/fuzz.sh TARGET SECONDS [libFuzzer flags]   (TARGET: ${targets[*]})" >&2
  exit 2
fi
shift 2

case "$target" in
  safetensors) max_len=16384; patterns=("*.safetensors") ;;
  zip)         max_len=16384; patterns=("*.bin" "*.npz" "*.zip") ;;
  pickle)      max_len=16384; patterns=("*.pkl") ;;
  tokenizer)   max_len=4096;  patterns=("*.txt" "*.jsonl" "*.tsv") ;;
  golden)      max_len=65536; patterns=("*.safetensors" "*.npz") ;;
  config)      max_len=4096;  patterns=("config.json" "*config*.json") ;;
  onnx)        max_len=65536; patterns=("*.onnx") ;;
  gguf)        max_len=16384; patterns=("*.gguf") ;;
esac

work=.build-fuzz
bin="$work/bin/bertcheck-fuzz"
mkdir -p "$work/bin" "$work/corpus/$target" "fuzz-artifacts/$target"

# One binary holds every target. Build it when it is missing or older than any library source
# or fuzz file, from a snapshot of the sources (others may edit the tree meanwhile), into a
# temporary name (a fuzzer already running keeps its binary).
stamp="$work/bin/snapshot-time"
if [[ ! -x "$bin" || ! -f "$stamp" ]] || [[ -n "$(find Sources/BertCheck Sources/CKernels Tests/Fuzz \( -name '*.swift' -o -name '*.[ch]' \) -newer "$stamp" | head -1)" ]]; then
  echo "fuzz.sh: building $bin" >&2
  snapshot="$work/src"
  rm -rf "$snapshot" "$stamp"; mkdir -p "$snapshot"
  touch "$stamp.tmp"
  cp -R Sources/BertCheck Sources/CKernels Tests/Fuzz "$snapshot/"
  # The C kernel target: compiled by clang, imported through a module map of its header.
  printf 'module CKernels {\n    header "%s"\n    export *\n}\n' "$root/$snapshot/CKernels/include/ckernels.h" \
    >"$snapshot/CKernels/include/module.modulemap"
  objects=()
  for source in "$snapshot"/CKernels/*.c; do
    objects+=("$work/$(basename "$source" .c).o")
    clang -O3 -g -fsanitize=fuzzer-no-link,address -c "$source" -I "$snapshot/CKernels/include" -o "${objects[-1]}"
  done
  # shellcheck disable=SC2046
  swiftc -sanitize=fuzzer,address -parse-as-library -O -g -swift-version 5 \
    -module-name BertCheck -I Sources/CZlib -I Sources/COpenBLAS -I "$snapshot/CKernels/include" \
    $(find "$snapshot" -name '*.swift' | sort) "${objects[@]}" \
    -lz -lopenblas -o "$bin.tmp" 2> >(grep -v 'Cannot export local symbol' >&2)
  mv "$bin.tmp" "$bin"
  mv "$stamp.tmp" "$stamp"
fi

# Seeds: the hostile corpus for this target, then small committed files of the same kind (copied,
# because libFuzzer wants directories and never modifies seed directories anyway).
seeds="$work/seeds/$target"
rm -rf "$seeds"; mkdir -p "$seeds"
if [[ -d "Tests/BertCheckTests/Fixtures/hostile/$target" ]]; then
  find "Tests/BertCheckTests/Fixtures/hostile/$target" -type f -exec cp {} "$seeds/" \;
fi
# The hostile test corpus exports its inputs (BERTCHECK_HOSTILE_EXPORT) when the tests are built.
if [[ -d .build/debug ]]; then
  export_dir="$work/hostile-export"
  rm -rf "$export_dir"
  BERTCHECK_HOSTILE_EXPORT="$PWD/$export_dir" swift test --skip-build --filter HostileInputTests >/dev/null 2>&1 || true
  if [[ -d "$export_dir/$target" ]]; then cp "$export_dir/$target"/* "$seeds/"; fi
fi
name_args=()
for p in "${patterns[@]}"; do name_args+=(-o -name "$p"); done
find goldens Tests/BertCheckTests/Fixtures -type f -size -$((max_len + 1))c \( "${name_args[@]:1}" \) 2>/dev/null |
  while read -r f; do cp "$f" "$seeds/$(echo "$f" | tr '/' '_')"; done
# Derived seeds: the pickles inside the committed torch.save checkpoints; deflated copies of the
# small zips (torch.save stores, numpy's savez_compressed deflates).
find goldens Tests/BertCheckTests/Fixtures -type f \( -name '*.bin' -o -name '*.npz' \) -size -4M 2>/dev/null |
  python3 -c '
import sys, zipfile, io, os
target, seeds, max_len = sys.argv[1], sys.argv[2], int(sys.argv[3])
for path in sys.stdin.read().split():
    flat = path.replace("/", "_")
    try:
        with zipfile.ZipFile(path) as z:
            if target == "pickle":
                for n in z.namelist():
                    if n.endswith(".pkl"):
                        open(os.path.join(seeds, flat + ".pkl"), "wb").write(z.read(n))
            elif target == "zip":
                out = io.BytesIO()
                with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as w:
                    for n in z.namelist():
                        w.writestr(n, z.read(n))
                if out.tell() <= max_len:
                    open(os.path.join(seeds, flat + ".deflated.zip"), "wb").write(out.getvalue())
    except zipfile.BadZipFile:
        pass
' "$target" "$seeds" "$max_len"
# GGUF files are larger than max_len: their first max_len bytes (metadata, tensor table, the
# first tensors) seed mutations that shrink the table to fit.
if [[ "$target" == gguf ]]; then
  find goldens -type f -name '*.gguf' -size +$((max_len))c | while read -r f; do
    head -c "$max_len" "$f" >"$seeds/$(echo "$f" | tr '/' '_').head"
  done
fi
echo "fuzz.sh: $target for ${seconds}s, $(ls "$seeds" | wc -l) seeds, max_len $max_len" >&2

log="fuzz-artifacts/$target/run-$(date -u +%Y%m%dT%H%M%SZ).log"
export SWIFT_BACKTRACE=enable=no   # let ASan / libFuzzer report traps, not Swift's backtracer
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:${ASAN_OPTIONS:-}"  # leaks: the ASan test run's job; fallible allocations return null
status=0
BERTCHECK_FUZZ_TARGET="$target" "$bin" "$work/corpus/$target" "$seeds" \
  -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="fuzz-artifacts/$target/" -print_final_stats=1 "$@" >"$log" 2>&1 || status=$?
grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|==[0-9]+==ERROR|Fatal error)' "$log" || true
echo "fuzz.sh: log $log, exit $status" >&2
exit "$status"
}

main "$@"
