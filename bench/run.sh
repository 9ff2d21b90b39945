#!/usr/bin/env bash
# Runs the Slack benchmark: `jitbot run` against the fake Slack in tests/fakes.
#   bash bench/run.sh [--json FILE] [--only acks,floor,clicks,burst,flows,cpu,slowload,rss,startup]
# Phases: see docs/benchmarks.md. Targets are printed, never asserted: the exit status does not
# depend on them. JITBOT_BINARY=PATH benchmarks another binary (e.g. a saved copy of the old engine).
# It does not build anything; build first with `bash scripts/build.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${JITBOT_BINARY:-build/bot/jitbot}"
if [[ ! -x "$binary" ]]; then
  echo "bench: no jitbot binary at $binary. Build it first with: bash scripts/build.sh" >&2
  exit 2
fi
if ! command -v node >/dev/null; then
  echo "bench: node (20 or newer) is needed to run the fake Slack" >&2
  exit 2
fi
if [[ ! -d tests/fakes/node_modules/ws ]]; then
  echo "bench: the fake Slack's dependencies are missing; run: (cd tests/fakes && npm ci)" >&2
  exit 2
fi

# The CPU model too: the VM this runs on may land on a different host from one day to the next.
cpu_model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "jitbot Slack benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs (${cpu_model:-model unknown}), load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec node bench/slack_bench.js "$@"
