#!/usr/bin/env bash
# A stand-in inference worker under the fleet's worker contract: it reads REDIS_URL from its env,
# takes jobs from the Redis list `jobs` (BRPOP) and pushes to `results` the uppercased payload with
# the contract env it received (WORKER_NAME, OMP_NUM_THREADS), a plain service env value (GREETING)
# and a short hash of a secret env value (API_TOKEN), so a test can see all of them arrive.
# The password never goes on a command line: redis-cli reads it from REDISCLI_AUTH.
# SIGTERM drains: the job in hand is finished, then the worker exits (BRPOP waits 1 s at a time).
set -euo pipefail

url="${REDIS_URL:?REDIS_URL is not set}"
rest="${url#redis://}"
password=""
if [[ "$rest" == *@* ]]; then
  credentials="${rest%@*}"
  rest="${rest##*@}"
  password="${credentials#*:}"
fi
address="${rest%%/*}"
db=0
[[ "$rest" != */* ]] || db="${rest#*/}"
redis_host="${address%%:*}"
redis_port=6379
[[ "$address" != *:* ]] || redis_port="${address##*:}"
export REDISCLI_AUTH="$password"
redis() { redis-cli --raw -h "$redis_host" -p "$redis_port" -n "${db:-0}" "$@"; }

token_hash="none"
[[ -z "${API_TOKEN:-}" ]] || token_hash="$(printf '%s' "$API_TOKEN" | sha256sum | cut -c1-12)"

stopping=0
trap 'stopping=1' TERM INT

# shellcheck disable=SC2310 # a Redis query: a failure means not up yet
until [[ "$(redis PING 2>/dev/null)" == PONG ]]; do
  ((!stopping)) || exit 0
  echo "worker ${WORKER_NAME:-?}: waiting for Redis at ${redis_host}:${redis_port}" >&2
  sleep 1
done
touch /tmp/worker-ready
echo "worker ${WORKER_NAME:-?}: ready" >&2

while ((!stopping)); do
  # shellcheck disable=SC2310 # a Redis query: a failure means no job yet
  mapfile -t reply < <(redis BRPOP jobs 1 2>/dev/null || true)
  ((${#reply[@]} >= 2)) || continue
  payload="${reply[1]}"
  result="${payload^^} worker=${WORKER_NAME:-} threads=${OMP_NUM_THREADS:-} greeting=${GREETING:-} token=${token_hash}"
  redis LPUSH results "$result" >/dev/null
  echo "worker ${WORKER_NAME:-?}: done: ${result}" >&2
done
echo "worker ${WORKER_NAME:-?}: drained, exiting" >&2
