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
# halt_on_error: the first report fails the run. allocator_may_return_null: readers ask for
# sizes a file declares with a fallible allocation (OwnedBytes(checkedCount:)) and refuse the file
# when it fails; ASan's default would abort there instead of returning null as the system does.
export ASAN_OPTIONS="halt_on_error=1:allocator_may_return_null=1:detect_stack_use_after_return=0:${ASAN_OPTIONS:-}"
# LeakSanitizer stays on, with two suppressions outside bertcheck: XCTest's own suite objects,
# which `swift test` leaks at exit of its (empty) XCTest pass, and the 32-byte weak-reference side
# table Foundation's Process.run leaves behind (the tests' CLI helper runs the binary with it).
suppressions=$(mktemp)
trap 'rm -f "$suppressions"' EXIT
printf 'leak:libXCTest.so\nleak:Foundation7ProcessC3run\n' >"$suppressions"
export LSAN_OPTIONS="suppressions=$suppressions:print_suppressions=0:${LSAN_OPTIONS:-}"
swift test -Xcc -O3 --sanitize=address --scratch-path .build-asan "$@"
