#!/usr/bin/env bash
# The whole ctest suite again, built with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer (any finding fails), then every libFuzzer target in tests/fuzz for a
# bounded time from its seed corpus and regression inputs. Called by scripts/test.sh; assumes
# scripts/install-test-deps.sh has run (it installs clang and its sanitizer runtimes).
#   JITBOT_FUZZ_SECONDS=N   seconds per fuzz target (default 20; longer runs: see tests/fuzz/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${JITBOT_FUZZ_SECONDS:-20}"
build=build-sanitized

CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJITBOT_SANITIZE=ON -DJITBOT_FUZZ=ON \
  >/dev/null
cmake --build "$build" -j "$(nproc)"

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Sanitized code is several times slower: the Slack tests' ack deadline (3 s, Slack's) is held by
# the normal build; here it only catches an ack that never comes.
export JITBOT_ACK_DEADLINE_MS=15000
# For the same reason the replica test runs 60 flows per replica set here instead of 200.
export JITBOT_REPLICA_FLOWS=60
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
for fuzzer in "$build"/tests/fuzz/fuzz_*; do
  [[ -x $fuzzer ]] || continue
  name=$(basename "$fuzzer")
  seeds=tests/fuzz/corpus/$name
  regressions=tests/fuzz/regressions/$name
  # Every input that once crashed a target runs first, once each.
  if [[ -d $regressions ]] && compgen -G "$regressions/*" >/dev/null; then
    "$fuzzer" "$regressions"/* >/dev/null 2>&1 || {
      echo "test-sanitized: $name fails on a regression input again:"
      "$fuzzer" "$regressions"/* 2>&1 | tail -40
      exit 1
    }
  fi
  work="$build/fuzz-corpus/$name"
  mkdir -p "$work"
  echo "test-sanitized: fuzzing $name for ${seconds}s"
  if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
    -artifact_prefix="$artifacts/$name-" "$work" "$seeds" >"$build/$name.log" 2>&1; then
    echo "test-sanitized: $name found a crash; the input is in $artifacts (copy it into $regressions/):"
    tail -60 "$build/$name.log"
    exit 1
  fi
done
echo "test-sanitized: every fuzz target ran ${seconds}s without a finding"
