#!/usr/bin/env bash
# What the tests need beyond the build: Node.js, the fake Slack's packages and the official
# Slack SDKs that prove the fake faithful (tests/fakes/package-lock.json pins them all).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  echo "install-test-deps: installing nodejs and npm"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends nodejs npm
fi

# Reinstall only when the lock file changed since the last install.
stamp=tests/fakes/node_modules/.package-lock.json
if [[ ! -f $stamp || tests/fakes/package-lock.json -nt $stamp ]]; then
  echo "install-test-deps: npm ci in tests/fakes"
  npm ci --prefix tests/fakes --no-audit --no-fund --loglevel=error
fi
