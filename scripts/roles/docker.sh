#!/usr/bin/env bash
# docker: Docker engine from the distribution (docker.io), enabled and running, with log rotation
# defaults merged into /etc/docker/daemon.json (other keys, such as the nvidia runtime, are kept).
# Inputs: FLEET_HOST, FLEET_DOCKER_LOG_MAX_SIZE (default 50m), FLEET_DOCKER_LOG_MAX_FILE (default 5),
# FLEET_DOCKER_USERS (comma-separated users put in the docker group: the non-root SSH user Pulumi's
# Docker provider connects as; its next SSH session reaches dockerd).
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

# Docker over ssh:// runs `docker system dial-stdio` as the SSH user: without the docker group it
# cannot open /var/run/docker.sock.
IFS=',' read -r -a docker_users <<<"${FLEET_DOCKER_USERS:-}"
for user in "${docker_users[@]}"; do
  [[ -n "$user" ]] || continue
  [[ "$user" =~ ^[a-z_][a-z0-9_-]*$ ]] || fail "FLEET_DOCKER_USERS: '${user}' is not a user name" "fix hosts.${FLEET_HOST}.ssh.user in the stack config"
  id -u "$user" >/dev/null 2>&1 || fail "user ${user} does not exist" "create ${user} on the host (it is hosts.${FLEET_HOST}.ssh.user), or fix the stack config"
  getent group docker >/dev/null || fail "there is no docker group" "reinstall docker.io (apt-get install --reinstall docker.io)"
  if ! id -nG "$user" | tr ' ' '\n' | grep -qx docker; then
    usermod -aG docker "$user" >&2 || fail "cannot add ${user} to the docker group" "run 'usermod -aG docker ${user}' on the host and read its error"
    changed "${user} added to the docker group (Docker over ssh:// as ${user})"
  fi
done

finish "docker running, ${conf} has log rotation (max-size ${max_size}, max-file ${max_file})${FLEET_DOCKER_USERS:+, docker group has ${FLEET_DOCKER_USERS}}"
