#!/usr/bin/env bash
# The whole test suite under AddressSanitizer, in its own scratch path (.build-asan) so it never
# disturbs the normal debug build. Every CLI test then also runs the ASan-built `bertcheck`.
# Usage: Scripts/asan-test.sh [extra swift test arguments, e.g. --filter Hostile]
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
export BERTCHECK_MINILM="$(Scripts/fetch-model.sh)"
# Swift's own crash backtracer and ASan both want the fatal signals; let ASan report.
export SWIFT_BACKTRACE=enable=no
# halt_on_error: the first report fails the run; detect_leaks stays on (LeakSanitizer).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0:${ASAN_OPTIONS:-}"
swift test --sanitize=address --scratch-path .build-asan "$@"
