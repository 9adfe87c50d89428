#!/usr/bin/env bash
# npm run test:host: the role scripts on a real, fresh Debian 12 host (a systemd container under a
# private dockerd), each run twice. Needs root and Debian's docker.io, debootstrap and dpkg-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
export FLEET_TEST_DOCKER_DIR="${FLEET_TEST_DOCKER_DIR:-/tmp/fleet-docker}"
export DOCKER_HOST="unix://${FLEET_TEST_DOCKER_DIR}/docker.sock"
export FLEET_HOST_TESTS=1
# Stop the daemon afterwards only if this run started it (a developer's or another run's daemon stays).
if DOCKER_HOST="$DOCKER_HOST" docker version >/dev/null 2>&1; then
  echo "test:host: using the Docker daemon already answering at $DOCKER_HOST"
else
  bash test/host/dockerd.sh start
  trap 'bash test/host/dockerd.sh stop' EXIT
fi
node --import tsx --test --test-reporter=spec test/host/*.test.ts
