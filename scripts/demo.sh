#!/usr/bin/env bash
# The main job: install what is missing, build, and start the terminal demo on the example config.
# At a terminal you type the commands yourself; otherwise the scripted demo session plays.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
config=config/examples/jitbot.toml
if [[ -t 0 ]]; then
  cat <<'HINT'

Try this (Bob approves through the S0SRELEADS group; the demo backend logs every call):
  /as U0ALICE
  /jit request --provider aws --role prod-infra-admin --scope 123456789012 --duration 1m --reason "INC-4421"
  /as U0BOB
  click 1
  /wait 1m
HINT
  exec build/bot/jitbot shell --config "$config"
else
  exec build/bot/jitbot shell --manual-clock --config "$config" <config/examples/demo-session.txt
fi
