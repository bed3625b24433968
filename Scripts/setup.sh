#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test bertcheck: zlib and OpenBLAS
# headers, and the real all-MiniLM-L6-v2 test model. Safe to run again.
set -euo pipefail
need=()
for pkg in zlib1g-dev libopenblas-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
"$(dirname "$0")/fetch-model.sh" >/dev/null
