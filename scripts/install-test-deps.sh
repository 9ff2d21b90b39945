#!/usr/bin/env bash
# What the tests need beyond the build: Node.js, the fakes' packages and the official Slack
# SDKs that prove the fake Slack faithful (tests/fakes/package-lock.json pins them all), and the
# real cloud clients that prove the cloud fakes faithful: the AWS CLI (Debian's awscli) and
# kubectl (Debian's kubernetes-client) when the machine has none. gcloud is not in Debian's
# archive; the gcloud proof test says so when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

needed=()
command -v node >/dev/null || needed+=(nodejs)
command -v npm >/dev/null || needed+=(npm)
command -v aws >/dev/null || needed+=(awscli)
command -v kubectl >/dev/null || needed+=(kubernetes-client)
command -v openssl >/dev/null || needed+=(openssl)
command -v curl >/dev/null || needed+=(curl)
# scripts/check-packaging.sh: systemd-analyze verifies the unit; readelf checks the strip.
command -v systemd-analyze >/dev/null || needed+=(systemd)
command -v readelf >/dev/null || needed+=(binutils)
# Tests of the PostgreSQL store and of replicas start a throwaway cluster (scripts/pg-cluster.sh).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || needed+=(postgresql)
command -v runuser >/dev/null || needed+=(util-linux)
# The sanitizer build and the fuzz targets (scripts/test-sanitized.sh): clang with its runtimes.
command -v clang++ >/dev/null || needed+=(clang)
compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null || needed+=(libclang-rt-14-dev)

if ((${#needed[@]} > 0)); then
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  echo "install-test-deps: installing ${needed[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${needed[@]}"
fi

# Reinstall only when the lock file changed since the last install.
stamp=tests/fakes/node_modules/.package-lock.json
if [[ ! -f $stamp || tests/fakes/package-lock.json -nt $stamp ]]; then
  echo "install-test-deps: npm ci in tests/fakes"
  npm ci --prefix tests/fakes --no-audit --no-fund --loglevel=error
fi
