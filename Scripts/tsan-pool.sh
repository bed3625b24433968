#!/usr/bin/env bash
# The worker pool (Sources/CKernels/pool.c) under ThreadSanitizer: builds Tests/PoolStress with
# clang -fsanitize=thread (Swift's toolchain clang links libdispatch into its TSan runtime, hence
# the extra libraries) and runs it; any TSan report or a miscounted index fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build-tsan
mkdir -p "$out"
lib="$(dirname "$(dirname "$(command -v swift)")")/lib/swift/linux"
clang -O1 -g -fsanitize=thread -I Sources/CKernels/include Tests/PoolStress/pool_stress.c Sources/CKernels/pool.c \
  -o "$out/pool-stress" -lpthread -L "$lib" -ldispatch -lBlocksRuntime -Wl,-rpath,"$lib"
TSAN_OPTIONS="halt_on_error=1:exitcode=66:${TSAN_OPTIONS:-}" "$out/pool-stress"
