#!/usr/bin/env bash
# The rollout's health gate for one worker container, run on its host (over SSH, by a Pulumi
# command whose trigger is the container's id, so it runs again for every new container).
#
# Exit 0 only when the container is running now and, if it has a healthcheck, Docker reports it
# healthy now. Exit 1 when it has not been, by FLEET_GATE_TIMEOUT seconds: the command fails, the
# next workers of its lane are not touched, and since a failed create leaves no state, the next
# `pulumi up` runs this check again, and fails again until the container is healthy.
#
#   FLEET_CONTAINER      container name (required)
#   FLEET_GATE_TIMEOUT   seconds to wait for healthy (default 60)
#   FLEET_GATE_INTERVAL  seconds between checks (default 2)
set -euo pipefail

container="${FLEET_CONTAINER:?FLEET_CONTAINER is required}"
timeout="${FLEET_GATE_TIMEOUT:-60}"
interval="${FLEET_GATE_INTERVAL:-2}"
case "$timeout$interval" in
  *[!0-9]*) echo "health-gate: FLEET_GATE_TIMEOUT and FLEET_GATE_INTERVAL must be whole seconds" >&2; exit 2 ;;
  *) ;;
esac

# One line: running restarting health (health is "none" without a healthcheck). Fails if absent.
format='{{.State.Running}} {{.State.Restarting}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}'

deadline=$((SECONDS + timeout))
last="not inspected"
while :; do
  if current="$(docker inspect --format "$format" "$container" 2>&1)"; then
    last="$current"
    read -r running restarting health <<<"$current"
    if [[ "$running" == true && "$restarting" == false ]]; then
      case "$health" in
        healthy)
          echo "health-gate: $container is running and healthy"
          exit 0
          ;;
        none)
          echo "health-gate: $container is running (it has no healthcheck)"
          exit 0
          ;;
        *) ;; # starting, or unhealthy for now (Docker keeps checking, and it may recover): wait
      esac
    fi
  else
    last="$current"
  fi
  if ((SECONDS >= deadline)); then
    echo "health-gate: $container is not healthy after ${timeout}s (running restarting health: $last)" >&2
    exit 1
  fi
  sleep "$interval"
done
