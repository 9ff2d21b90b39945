#!/usr/bin/env bash
# Installs everything jitbot needs to build and test on a fresh Debian 12.
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git jq
  nlohmann-json3-dev libsqlitecpp-dev libsqlite3-dev libfmt-dev catch2
  libspdlog-dev libcli11-dev libtomlplusplus-dev libboost1.81-dev libssl-dev openssl ca-certificates
  libyaml-cpp-dev libpq-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi

echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
