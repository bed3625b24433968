#!/usr/bin/env bash
# The test command: installs what is missing (Scripts/setup.sh), then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
export BERTCHECK_MINILM="$(Scripts/fetch-model.sh)"
unset BERTCHECK_SKIP_SLOW  # the whole suite, the tests tagged .slow included
# -Xcc -O3: the C kernels optimised in the debug build too (Package.swift keeps no unsafe flags).
swift test -Xcc -O3 "$@"
