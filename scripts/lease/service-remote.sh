#!/usr/bin/env bash
# service-remote.sh: the host side of `npm run service -- start|stop` (scripts/service.ts), sent over
# SSH on stdin together with gpu-lease.sh (its functions). Starts or stops one manual worker container.
#   service-remote.sh start CONTAINER GPU MIB CAPACITY [LEASE_DIR]
#   service-remote.sh stop  CONTAINER DRAIN_SECONDS
# Output: the live leases of the GPU (`lease gpu=.. holder=.. mib=.. since=.. pid=..`) when it looked,
# then one line `result <word>`: started, running (already), no-room, stopped, exited (already), or
# missing (no such container). Exit 0 for all of these; 1 when docker fails; 2 on bad input.
set -euo pipefail
if ! declare -F lease_live >/dev/null; then
  # shellcheck source-path=SCRIPTDIR source=gpu-lease.sh
  GPU_LEASE_LIBRARY=1 source "$(dirname "${BASH_SOURCE[0]}")/gpu-lease.sh"
fi

service_main() {
  local action=${1:-} container=${2:-} state
  [[ "$container" =~ ^[a-z0-9][a-z0-9-]*$ ]] || lease_die 2 "'${container}' is not a worker container name"
  # Nothing here reads stdin: with `bash -s` the rest of stdin is this script.
  state="$(docker inspect -f '{{.State.Status}}' "$container" </dev/null 2>/dev/null)" || {
    echo "result missing"
    return 0
  }
  case "$action" in
    start)
      L_GPU=${3:-} L_MIB=${4:-} L_CAPACITY=${5:-} L_DIR=${6:-/run/gpu-fleet/leases} L_HOLDER=$container
      lease_check_inputs
      if [[ "$state" == running || "$state" == restarting ]]; then
        echo "result running"
        return 0
      fi
      local holders used
      lease_mutex "$L_DIR" "$L_GPU"
      flock -s "$LEASE_MUTEX_FD"
      holders="$(lease_live "$L_DIR" "$L_GPU")"
      exec {LEASE_MUTEX_FD}<&-
      used="$(lease_sum <<<"$holders")"
      local line
      while IFS= read -r line; do
        [[ -z "$line" ]] || echo "lease ${line}"
      done <<<"$holders"
      if ((used + L_MIB > L_CAPACITY)); then
        echo "result no-room"
        return 0
      fi
      docker start "$container" </dev/null >&2 || lease_die 1 "docker start ${container} failed"
      echo "result started"
      ;;
    stop)
      local drain=${3:-30}
      [[ "$drain" =~ ^[0-9]+$ ]] || lease_die 2 "drain '${drain}' is not whole seconds"
      if [[ "$state" != running && "$state" != restarting && "$state" != paused ]]; then
        echo "result exited"
        return 0
      fi
      docker stop -t "$drain" "$container" </dev/null >&2 || lease_die 1 "docker stop ${container} failed"
      echo "result stopped"
      ;;
    *) lease_die 2 "unknown action '${action}': use start or stop" ;;
  esac
}

service_main "$@"
