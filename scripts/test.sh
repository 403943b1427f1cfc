#!/usr/bin/env bash
# Builds and runs every test: the dev preset, then the asan preset (ASan + UBSan).
# Usage: scripts/test.sh [--dev-only]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
presets=(dev asan)
[ "${1:-}" = "--dev-only" ] && presets=(dev)

for preset in "${presets[@]}"; do
  echo "== ${preset}: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== ${preset}: test"
  ctest --preset "$preset" -j "$jobs"
done
