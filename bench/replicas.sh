#!/usr/bin/env bash
# Runs the replica benchmark: `jitbot run` on SQLite (1 process) and on PostgreSQL (1, 2 and 3 replicas sharing one
# database and one fake Slack app), full flows per second, and the failover time after kill -9 of one replica.
#   bash bench/replicas.sh [--flows N] [--json FILE] [--only sqlite,pg1,pg2,pg3,failover]
# It starts a throwaway PostgreSQL cluster (scripts/pg-cluster.sh) and stops it on exit. Targets are printed, never
# asserted: the exit status is 1 only when a phase could not finish. JITBOT_BINARY=PATH benchmarks another binary.
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
if ! command -v psql >/dev/null; then
  echo "bench: psql and a PostgreSQL server are needed; scripts/install-test-deps.sh installs them" >&2
  exit 2
fi

env_file=$(mktemp /tmp/jitbot-bench-pg.XXXXXX.env)
node_pid=""
stop_cluster() {
  bash scripts/pg-cluster.sh stop "$env_file" || true
  rm -f "$env_file"
}
# On SIGINT/SIGTERM: the benchmark (which then kills the jitbot processes it started) first, then the cluster.
on_signal() {
  if [[ -n $node_pid ]]; then
    kill -TERM "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  exit "$1"
}
trap stop_cluster EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
bash scripts/pg-cluster.sh start "$env_file" >&2

echo "jitbot replica benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# In the background, so that a signal reaches the trap above at once rather than after the benchmark ends.
JITBOT_BINARY="$binary" node bench/replica_bench.js --pg-env "$env_file" "$@" &
node_pid=$!
status=0
wait "$node_pid" || status=$?
exit "$status"
