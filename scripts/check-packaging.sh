#!/usr/bin/env bash
# Checks what an operator installs: `cmake --install` of build/ lays out a stripped binary that
# runs, the example config and the systemd unit, and the unit passes `systemd-analyze verify`.
# The Dockerfile is built where a Docker engine answers; otherwise that is said, not hidden.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$(mktemp -d)"
trap 'rm -rf "$prefix"' EXIT

cmake --install build --prefix "$prefix" >/dev/null
binary="$prefix/bin/jitbot"
for file in "$binary" "$prefix/share/jitbot/examples/jitbot.toml" "$prefix/lib/systemd/system/jitbot.service" \
  "$prefix/share/doc/jitbot/LICENSE" "$prefix/share/doc/jitbot/operations.md"; do
  [[ -e "$file" ]] || { echo "check-packaging: $file was not installed" >&2; exit 1; }
done
if readelf -S "$binary" | grep -Eq '\.(symtab|debug_)'; then
  echo "check-packaging: the installed jitbot carries symbols or debug info" >&2
  exit 1
fi
size=$(stat -c %s "$binary")
echo "check-packaging: installed jitbot is $((size / 1024)) KiB, stripped"
"$binary" --version
"$binary" check-config --config "$prefix/share/jitbot/examples/jitbot.toml" >/dev/null
# The compose example's config, with the image's paths pointing into this prefix.
sed "s|/usr/local/share/jitbot|$prefix/share/jitbot|" config/compose/jitbot.toml >"$prefix/compose-jitbot.toml"
"$binary" check-config --config "$prefix/compose-jitbot.toml" >/dev/null
grep -q "^ExecStart=$binary run " "$prefix/lib/systemd/system/jitbot.service" || {
  echo "check-packaging: the unit does not start the installed binary" >&2
  exit 1
}

if command -v systemd-analyze >/dev/null; then
  # verify wants the unit's ExecStart to exist (it does, under the prefix) and reads no live system.
  SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$prefix/lib/systemd/system/jitbot.service"
  echo "check-packaging: systemd-analyze verify passed"
else
  echo "check-packaging: systemd-analyze is not installed here; the unit was not verified"
fi

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker build -q -t jitbot:check . >/dev/null
  echo "check-packaging: the Dockerfile builds"
else
  echo "check-packaging: no Docker engine answers here; the Dockerfile was not built"
fi
