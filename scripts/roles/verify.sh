#!/usr/bin/env bash
# verify: the worker reaches Redis over the tailnet, and the tailnet policy keeps it away from the
# Redis host's other ports. Changes nothing.
# Inputs: FLEET_HOST, FLEET_REDIS_HOST, FLEET_REDIS_PORT (default 6379), FLEET_DENIED_PORT (default 22),
# FLEET_TIMEOUT_SECONDS (default 10).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
role_init verify

host="${FLEET_REDIS_HOST:-}"
port="${FLEET_REDIS_PORT:-6379}"
denied="${FLEET_DENIED_PORT:-22}"
timeout_s="${FLEET_TIMEOUT_SECONDS:-10}"
[[ -n "$host" ]] || fail "FLEET_REDIS_HOST is empty" "pass the Redis host's tailnet name or address"
for v in "$port" "$denied" "$timeout_s"; do
  [[ "$v" =~ ^[0-9]+$ ]] || fail "'${v}' is not a number (FLEET_REDIS_PORT, FLEET_DENIED_PORT, FLEET_TIMEOUT_SECONDS)" "pass whole numbers"
done

# Sends PING and prints the first reply line. No password is needed: -NOAUTH proves reachability.
# shellcheck disable=SC2016 # the inner script is single-quoted on purpose; its arguments come as $1 $2 $3
reply="$(timeout "$timeout_s" bash -c '
  exec 3<>"/dev/tcp/$1/$2" || exit 7
  printf "PING\r\n" >&3
  IFS= read -r -t "$3" line <&3 || exit 8
  printf "%s" "${line%$'"'"'\r'"'"'}"
' _ "$host" "$port" "$timeout_s" 2>/dev/null)" || rc=$?
case "$reply" in
  +PONG*) answer="+PONG" ;;
  -NOAUTH*) answer="-NOAUTH (password required, as it should be)" ;;
  *)
    case "${rc:-0}" in
      7) why="connection refused or no route" ;;
      8) why="connected but no reply to PING" ;;
      124) why="no answer within ${timeout_s}s" ;;
      *) why="unexpected reply '${reply:0:60}'" ;;
    esac
    fail "Redis at ${host}:${port} is unreachable (${why})" \
      "on ${FLEET_HOST} run 'tailscale status' (is the node up and the Redis host listed?), check that the tailnet policy grants this host's tags tcp:${port} to the Redis host, and that redis binds the tailnet address (bind/protected-mode in redis.conf)"
    ;;
esac

# A port the policy denies must not answer.
# shellcheck disable=SC2016 # as above
if timeout "$timeout_s" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$denied" 2>/dev/null; then
  fail "the tailnet policy lets this worker reach ${host}:${denied}; it must not" \
    "grant workers only tcp:${port} on the Redis host in the tailnet policy (grants ip [\"tcp:${port}\"]), then run verify again"
fi

finish "Redis at ${host}:${port} answers PING with ${answer}; ${host}:${denied} is closed to ${FLEET_HOST}"
