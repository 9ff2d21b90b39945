#!/usr/bin/env bash
# Configures and builds jitbot (and its tests) in build/. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
