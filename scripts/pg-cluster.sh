#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, from Debian's packages (install-test-deps.sh).
#
#   scripts/pg-cluster.sh start ENV_FILE   starts one in a new temporary folder on 127.0.0.1 and
#                                          writes ENV_FILE: JITBOT_TEST_PG_URL (no password),
#                                          PGPASSWORD, JITBOT_TEST_PG_DIR and JITBOT_TEST_PG_ADMIN
#                                          (a superuser URL over the folder's Unix socket)
#   scripts/pg-cluster.sh stop ENV_FILE    stops it and removes its folder
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user the
# package creates. The jitbot role logs in over TCP with a password (SCRAM), as in production,
# and may create databases: each test makes its own.
set -euo pipefail

command=${1:-}
env_file=${2:-}
if [[ -z $command || -z $env_file ]]; then
  echo "usage: $0 start|stop ENV_FILE" >&2
  exit 2
fi

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [[ -z $bin || ! -x $bin/initdb ]]; then
  echo "pg-cluster: no PostgreSQL server here; scripts/install-test-deps.sh installs it" >&2
  exit 1
fi

as_owner=()
owner=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
  owner=postgres
  id -u "$owner" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
  as_owner=(runuser -u "$owner" --)
fi

stop_cluster() {
  [[ -f $env_file ]] || return 0
  local dir
  dir=$(sed -n 's/^JITBOT_TEST_PG_DIR=//p' "$env_file")
  if [[ -n $dir && -d $dir/data ]]; then
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  [[ -n $dir && $dir == /tmp/jitbot-pg.* ]] && rm -rf "$dir"
  rm -f "$env_file"
}

case $command in
  stop)
    stop_cluster
    exit 0
    ;;
  start) ;;
  *)
    echo "usage: $0 start|stop ENV_FILE" >&2
    exit 2
    ;;
esac

stop_cluster  # a cluster a killed run left behind
dir=$(mktemp -d /tmp/jitbot-pg.XXXXXX)
chmod 755 "$dir"
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
chown "$owner" "$dir"
"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
  cat "$dir/initdb.log" >&2
  exit 1
}

# Throwaway: no fsync. Enough connections for three replicas and the tests beside them.
cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 64MB
log_min_messages = warning
EOF

started=""
for _ in 1 2 3 4 5 6 7 8; do
  port=$((20000 + RANDOM % 40000))
  sed -i "/^port = /d" "$dir/data/postgresql.conf"
  echo "port = $port" >>"$dir/data/postgresql.conf"
  if "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null 2>&1; then
    started=yes
    break
  fi
done
if [[ -z $started ]]; then
  echo "pg-cluster: the server did not start; its log:" >&2
  cat "$dir/server.log" >&2
  exit 1
fi

admin="postgresql:///postgres?host=$dir&port=$port&user=postgres"
"$bin/psql" -q -v ON_ERROR_STOP=1 "$admin" <<EOF
CREATE ROLE jitbot LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE jitbot OWNER jitbot;
EOF

umask 077
cat >"$env_file" <<EOF
JITBOT_TEST_PG_URL=postgresql://jitbot@127.0.0.1:$port/jitbot
PGPASSWORD=$password
JITBOT_TEST_PG_DIR=$dir
JITBOT_TEST_PG_ADMIN=$admin
EOF
echo "pg-cluster: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, in $dir"
