#!/usr/bin/env bash
# Install what is missing, build, run every test through ctest, check what gets installed, and
# run the sanitized build's tests and the fuzzers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/install-test-deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
bash scripts/check-packaging.sh
bash scripts/test-sanitized.sh
