#!/usr/bin/env bash
# Builds bertcheck in release and prints the binary's path (build output goes to stderr).
# --static: the Swift runtime linked statically, as a shipped binary would be (dynamic linking of
# libswiftCore & co. alone costs ~2 ms of start-up); its own scratch path, so it does not flip the
# flags of the ordinary release build. The whole-process benchmarks use it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=(swift build -c release -Xcc -O3 --product bertcheck)
[[ "${1:-}" == --static ]] && build+=(--static-swift-stdlib --scratch-path .build/static-release)
"${build[@]}" >&2
echo "$("${build[@]}" --show-bin-path)/bertcheck"
