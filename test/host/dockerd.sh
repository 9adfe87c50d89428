#!/usr/bin/env bash
# Starts or stops a private Docker daemon for the host tests (its own socket, data and exec roots, so
# it never touches a system Docker). Usage: test/host/dockerd.sh start|stop
#   FLEET_TEST_DOCKER_DIR  default /tmp/fleet-docker; the socket is $FLEET_TEST_DOCKER_DIR/docker.sock
set -euo pipefail
dir="${FLEET_TEST_DOCKER_DIR:-/tmp/fleet-docker}"
sock="unix://${dir}/docker.sock"
case "${1:-}" in
  start)
    mkdir -p "$dir"
    if DOCKER_HOST="$sock" docker version >/dev/null 2>&1; then
      echo "dockerd already answers on ${sock}"
      exit 0
    fi
    command -v dockerd >/dev/null || { echo "dockerd missing: apt-get install docker.io" >&2; exit 1; }
    nohup dockerd -H "$sock" --data-root "$dir/root" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
      >"$dir/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
      if DOCKER_HOST="$sock" docker version >/dev/null 2>&1; then
        echo "dockerd answers on ${sock} (export DOCKER_HOST=${sock})"
        exit 0
      fi
      sleep 1
    done
    echo "dockerd did not start; see $dir/dockerd.log" >&2
    tail -20 "$dir/dockerd.log" >&2
    exit 1
    ;;
  stop)
    if [[ -s "$dir/dockerd.pid" ]]; then
      pid="$(cat "$dir/dockerd.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
    echo "dockerd stopped"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
