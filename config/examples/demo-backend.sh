#!/usr/bin/env bash
# The demo credential backend: grants nothing, but records every call it gets, so the
# terminal demo shows real grant and revoke calls. It follows the exec backend contract:
#   argv[1] = grant | revoke | extend, stdin = one JSON object (version 1; extend: version 2),
#   exit 0 = success, exit 3 = an action it does not know,
#   stdout = optional JSON {grant_id, expires_at, console_url, message}.
# DEMO_BACKEND_LOG overrides where the record goes; DEMO_BACKEND_FAIL=1 makes it fail.
set -euo pipefail

action="${1:-}"
log="${DEMO_BACKEND_LOG:-$(dirname "$0")/demo-backend.log}"
input="$(cat)"

field() { jq -r "$1" <<<"$input"; }

if [[ "$action" != grant && "$action" != revoke && "$action" != extend ]]; then
  echo "demo-backend: unknown action '$action' (expected grant, revoke or extend)" >&2
  exit 3
fi
if ! jq -e 'type == "object" and (.version == 1 or .version == 2)' >/dev/null 2>&1 <<<"$input"; then
  echo "demo-backend: stdin is not a version 1 or 2 request" >&2
  exit 65
fi
if [[ "${DEMO_BACKEND_FAIL:-0}" == 1 ]]; then
  echo "demo-backend: refusing on purpose (DEMO_BACKEND_FAIL=1)" >&2
  exit 1
fi

request_id="$(field .request_id)"
summary="$(field '"\(.provider)/\(.role) on \(.scope) for \(.requester.slack_user_id) (\(.requester.email))"')"
printf '%s %s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$action" "$request_id" "$summary" >>"$log"

if [[ "$action" == grant ]]; then
  jq -n --arg id "demo-$request_id" --arg msg "demo backend recorded the grant in $(basename "$log")" \
    '{grant_id: $id, message: $msg}'
elif [[ "$action" == extend ]]; then
  jq -n --arg msg "demo backend recorded the extension from $(field .previous_expires_at) to $(field .expires_at)" \
    '{message: $msg}'
else
  jq -n --arg msg "demo backend recorded the revoke of $(field .grant_id)" '{message: $msg}'
fi
