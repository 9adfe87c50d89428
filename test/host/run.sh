#!/usr/bin/env bash
# npm run test:host: the role scripts on a real, fresh Debian 12 host (a systemd container under a
# private dockerd), each run twice. Needs root and Debian's docker.io, debootstrap and dpkg-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
export FLEET_TEST_DOCKER_DIR="${FLEET_TEST_DOCKER_DIR:-/tmp/fleet-docker}"
export DOCKER_HOST="unix://${FLEET_TEST_DOCKER_DIR}/docker.sock"
export FLEET_HOST_TESTS=1
bash test/host/dockerd.sh start
trap 'bash test/host/dockerd.sh stop' EXIT
node --import tsx --test --test-reporter=spec test/host/*.test.ts
