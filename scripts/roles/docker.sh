#!/usr/bin/env bash
# docker: Docker engine from the distribution (docker.io), enabled and running, with log rotation
# defaults merged into /etc/docker/daemon.json (other keys, such as the nvidia runtime, are kept).
# Inputs: FLEET_HOST, FLEET_DOCKER_LOG_MAX_SIZE (default 50m), FLEET_DOCKER_LOG_MAX_FILE (default 5).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
role_init docker

max_size="${FLEET_DOCKER_LOG_MAX_SIZE:-50m}"
max_file="${FLEET_DOCKER_LOG_MAX_FILE:-5}"
[[ "$max_size" =~ ^[0-9]+[kmg]?$ ]] || fail "FLEET_DOCKER_LOG_MAX_SIZE='${max_size}' is not a size" "use a size such as 50m"
[[ "$max_file" =~ ^[1-9][0-9]*$ ]] || fail "FLEET_DOCKER_LOG_MAX_FILE='${max_file}' is not a positive number" "use a count such as 5"

command -v jq >/dev/null || fail "jq is missing" "run the base role first"

# Docker's own docker-ce packages conflict with docker.io; a host that has them keeps them.
# shellcheck disable=SC2310 # pkg_installed is a predicate
if pkg_installed docker-ce; then
  log "docker-ce is installed; keeping it instead of docker.io"
else
  apt_install docker.io
  [[ -z "$APT_INSTALLED" ]] || changed "installed ${APT_INSTALLED}"
fi

conf=/etc/docker/daemon.json
current='{}'
if [[ -s "$conf" ]]; then
  current="$(jq -c . "$conf" 2>/dev/null)" || fail "${conf} is not valid JSON" "fix or remove ${conf} on the host, then run the role again"
fi
desired="$(jq -c --arg size "$max_size" --arg files "$max_file" '
  (if has("log-driver") then . else . + {"log-driver": "json-file"} end)
  | .["log-opts"] = ((.["log-opts"] // {}) + {"max-size": $size, "max-file": $files})' <<<"$current")"

config_changed=0
# Compare as data, not text: another tool (nvidia-ctk) may format the file differently.
if [[ "$(jq -S -c . <<<"$current")" != "$(jq -S -c . <<<"$desired")" ]]; then
  pretty="$(jq . <<<"$desired")"
  write_file "$conf" 0644 <<<"$pretty"
  config_changed=1
  changed "${conf} log rotation (max-size ${max_size}, max-file ${max_file})"
fi

was_active=0
systemctl is-active --quiet docker.service && was_active=1
ensure_service docker.service
if ((config_changed == 1 && was_active == 1)); then
  # Several config changes in a row must not trip systemd's start rate limit.
  systemctl reset-failed docker.service 2>/dev/null || true
  systemctl restart docker.service >&2 || fail "docker does not restart with the new ${conf}" "run 'journalctl -u docker -n 50' on the host; fix ${conf}"
  changed "docker restarted"
fi
systemctl is-active --quiet docker.service || fail "docker is not running" "run 'journalctl -u docker -n 50' on the host"

finish "docker running, ${conf} has log rotation (max-size ${max_size}, max-file ${max_file})"
